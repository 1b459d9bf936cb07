"""A booster is tried before it is served: a LightGBM text model that passes its checksum can
still be truncated or hold absurd numbers, and LightGBM's C++ loader answers those by aborting
or segfaulting the whole process. :func:`probe_boosters` keeps that from the engine:

1. the text's structure is checked here, in plain Python (cannot crash): the ``tree`` header, a
   single-output model of the expected width (``max_feature_idx``), one ``Tree=`` block per
   ``tree_sizes`` entry with exactly that many bytes, and the closing ``end of trees`` and
   ``end of parameters`` markers (a file cut after its trees still loads, with other defaults);
2. a child process (``python -c``, its own interpreter) loads every booster with LightGBM from
   the same text and predicts two probe rows of the model's width (all zeros, all missing),
   under a timeout. A crash (negative exit code), a timeout, an exception, a prediction of the
   wrong shape or a non-finite prediction refuses the model with a :class:`ModelError` naming
   the file and the reason.

A booster text that passed is remembered for the life of the process (by sha256 and width),
so loading the same model again costs nothing; a refused one is tried again each time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flowcast.errors import FlowcastUserError

PROBE_TIMEOUT_S = 30.0
MARK = "@@flowcast-probe"

# the child: optional libraries LightGBM would import (scikit-learn, pandas, ...) are kept out,
# which makes it start in ~0.3 s rather than ~2 s; should that LightGBM need them, it retries
# with them. It reads {"n": width, "boosters": [text, ...]} on stdin and reports each booster.
_CHILD = r"""
import json, sys
OPTIONAL = ("sklearn", "pandas", "dask", "pyarrow", "matplotlib", "graphviz", "datatable",
            "cffi")
for name in OPTIONAL:
    sys.modules.setdefault(name, None)
try:
    import lightgbm as lgb
except ImportError:
    for name in OPTIONAL:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]
    for name in [m for m in sys.modules if m.split(".")[0] == "lightgbm"]:
        del sys.modules[name]
    import lightgbm as lgb
import numpy as np
job = json.loads(sys.stdin.read())
n = int(job["n"])
rows = np.zeros((2, n))
rows[1] = np.nan
def say(*words):
    print("@@flowcast-probe", *words, flush=True)
for i, text in enumerate(job["boosters"]):
    say("start", i)
    try:
        booster = lgb.Booster(model_str=text)
        width = booster.num_feature()
        if width != n:
            say("bad", i, json.dumps(f"reads {width} features, the feature spec {n}"))
            sys.exit(3)
        out = np.asarray(booster.predict(rows, num_threads=1), dtype=float)
    except Exception as err:
        say("bad", i, json.dumps(f"{type(err).__name__}: {err}"))
        sys.exit(3)
    if out.shape != (2,):
        say("bad", i, json.dumps(f"predicts shape {out.shape} for 2 rows, not (2,)"))
        sys.exit(3)
    if not np.isfinite(out).all():
        say("bad", i, json.dumps(f"predicts {out.tolist()} for the probe rows (zeros, all "
                                 "missing): not finite"))
        sys.exit(3)
    say("ok", i)
"""

_PASSED: set[str] = set()  # sha256:width of booster texts that passed in this process


class BoosterRefused(FlowcastUserError):
    """A booster that fails its structure check or its probe (raised as the caller's
    ``ModelError`` by :mod:`flowcast.formats.model_dir`)."""


@dataclass(frozen=True)
class BoosterText:
    """One booster file as read (and checksum-checked) by the loader: its ``file`` and
    ``text``."""

    file: Path
    text: str

    @property
    def digest(self) -> str:
        """Hex sha256 of the text (UTF-8)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def probe_boosters(boosters: Sequence[BoosterText], n_features: int, *,
                   timeout_s: float | None = None) -> None:
    """Check every booster's structure, then load and predict with them in one child process
    given ``timeout_s`` (default :data:`PROBE_TIMEOUT_S`); see the module docstring. Raises
    :class:`BoosterRefused` naming the first file refused and why; returns once every booster
    passed (at once when all passed before)."""
    todo = [b for b in boosters if f"{b.digest}:{n_features}" not in _PASSED]
    for booster in todo:
        check_structure(booster.file, booster.text, n_features)
    if not todo:
        return
    _run_child(todo, n_features, PROBE_TIMEOUT_S if timeout_s is None else timeout_s)
    _PASSED.update(f"{b.digest}:{n_features}" for b in todo)


def check_structure(file: Path, text: str, n_features: int) -> None:
    """Refuse a LightGBM text model that is not whole: see point 1 of the module docstring."""

    def refuse(why: str) -> BoosterRefused:
        return BoosterRefused(f"booster file {file} is damaged: {why}; restore it or re-train "
                              "the model")

    if not text.startswith("tree\n"):
        raise refuse("it does not start as a LightGBM text model")
    header = text[:text.find("\nTree=") + 1 if "\nTree=" in text else len(text)]
    fields = dict(re.findall(r"^(\w+)=(.*)$", header, re.M))
    for key, want in (("num_class", "1"), ("num_tree_per_iteration", "1"),
                      ("max_feature_idx", str(n_features - 1))):
        if fields.get(key) != want:
            raise refuse(f"its header has {key}={fields.get(key)}, a model of {n_features} "
                         f"features has {key}={want}")
    end = text.find("\nend of trees\n")
    if end < 0 or "\nend of parameters\n" not in text[end:]:
        raise refuse("it is cut short (no 'end of trees' and 'end of parameters')")
    data = text[:end + 1].encode("utf-8")
    starts = [m.start() for m in re.finditer(rb"^Tree=\d+$", data, re.M)]
    if not starts:
        raise refuse("it holds no trees")
    if "tree_sizes" in fields:
        try:
            sizes = [int(s) for s in fields["tree_sizes"].split()]
        except ValueError:
            raise refuse("its tree_sizes are not whole numbers") from None
        found = [b - a for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]
        if sizes != found:
            raise refuse(f"its {len(found)} trees do not have the sizes its header lists "
                         f"({len(sizes)} trees)")


def _run_child(boosters: Sequence[BoosterText], n_features: int, timeout_s: float) -> None:
    job = json.dumps({"n": n_features, "boosters": [b.text for b in boosters]})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD], input=job, capture_output=True,
                              text=True, errors="replace", timeout=timeout_s, env=env,
                              check=False)  # a crash may echo the damaged file's raw bytes
    except subprocess.TimeoutExpired as err:
        out = (err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes)
               else (err.stdout or ""))
        file = _current(out, boosters)
        raise BoosterRefused(f"booster file {file} did not load and predict a probe row within "
                             f"{timeout_s:g} s in a test process; restore it or re-train the "
                             "model") from None
    if done.returncode == 0 and _count(done.stdout, "ok") == len(boosters):
        return
    file = _current(done.stdout, boosters)
    bad = re.search(rf"^{MARK} bad \d+ (.*)$", done.stdout, re.M)
    if bad:
        raise BoosterRefused(f"booster file {file} failed its probe in a test process: "
                             f"{json.loads(bad.group(1))}; restore it or re-train the model")
    if done.returncode < 0:
        raise BoosterRefused(f"booster file {file} crashed LightGBM in a test process "
                             f"({_signal_name(-done.returncode)}"
                             f"{_fatal(done.stdout + done.stderr)}); restore it or re-train "
                             "the model")
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    raise BoosterRefused(f"the test process for booster file {file} failed (exit status "
                         f"{done.returncode}: {tail}); the model is not served")


def _count(stdout: str, word: str) -> int:
    return len(re.findall(rf"^{MARK} {word} \d+$", stdout, re.M))


def _current(stdout: str, boosters: Sequence[BoosterText]) -> Path:
    """The file the child was at when it stopped (the first one if it had not started)."""
    started = re.findall(rf"^{MARK} start (\d+)$", stdout, re.M)
    return boosters[int(started[-1]) if started else 0].file


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _fatal(output: str) -> str:
    """``: <LightGBM's last fatal message>``, or nothing."""
    found = re.findall(r"\[LightGBM\] \[Fatal\] (.*)", output)
    return f": {found[-1].strip()}" if found else ""
