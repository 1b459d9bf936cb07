"""The command line end to end, as a user runs it (each command a subprocess):

- ``flowcast demo --minutes 60 --speedup 0 --port 0 --no-train --sensors 300``: wall time to
  each stage (city and history ready, history streamed in, pages announced, first published
  road condition, first status line) and in total. The first condition is when ``/readyz`` (the
  view has its first condition) first answers 200, polled every 5 ms from the moment the URL is
  printed (``--port 0``: the URL is known no earlier). When the very first poll answers 200 the
  figure is an upper bound (reported as such): the last history bucket may be published as the
  engine catches up, just before the URL line. A warm-up run
  fills the Numba cache and a work directory first; then ``fresh`` runs in a new work directory
  (simulates the city's 3 days of history again) and ``reused`` runs in the warm-up's.
- ``flowcast replay`` of a simulated 300-sensor x 3-day dataset with a small model (``flowcast
  train --max-trees 30 --no-quantiles --no-spots``): readings/s through the engine as the
  replay measures it (``metrics.json`` ``meta.stream``), and the command's wall time.

Run: ``.venv/bin/pytest benchmarks/test_demo_bench.py --benchmark-only -s`` (about 2 minutes
on the 2-core development machine). Figures are printed and kept in ``extra_info``; nothing
asserts a time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from timing import Timed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DEMO_ARGS = ["--minutes", "60", "--speedup", "0", "--port", "0", "--no-train",
             "--sensors", "300"]
URL_LINE = re.compile(r"guidance screen: (http://\S+)/screen")
STATUS_LINE = re.compile(r"^\w{3} \d{2} \w{3} \d{2}:\d{2}  roads: ")
# stdout line -> stage it marks (the first line matching wins)
STAGES = {"city": re.compile(r"^(city: |reusing the city)"),
          "history_streaming": re.compile(r"^streaming the last "),
          "announced": URL_LINE,
          "first_status_line": STATUS_LINE,
          "finished": re.compile(r"^demo finished at ")}
REPLAY_SENSORS = 300
REPLAY_DAYS = 3


def _flowcast(*args: str) -> list[str]:
    return [sys.executable, "-m", "flowcast", *args]


def _env() -> dict[str, str]:
    return os.environ | {"PYTHONUNBUFFERED": "1"}


@dataclass
class DemoRun:
    """Seconds from the start of the process to each stage, the first 200 of ``/readyz``, the
    exit, and the ``--summary`` JSON."""

    stages: dict[str, float] = field(default_factory=dict)
    first_condition_s: float | None = None
    ready_at_first_poll: bool = False
    first_poll_s: float | None = None
    total_s: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)


class ReadyPoller:
    """Polls ``/readyz`` every 5 ms from the moment :meth:`follow` gives it the URL (its HTTP
    client is made beforehand, so polling starts at once); notes when it first answers 200 and
    whether the first answer was already 200 (then the time is only an upper bound)."""

    def __init__(self, began: float) -> None:
        self.began = began
        self.ready_s: float | None = None
        self.ready_at_first_poll = False
        self.first_poll_s: float | None = None  # when the first answer came
        self.stop = threading.Event()
        self._url: str | None = None
        self._given = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def follow(self, url: str) -> None:
        """Start polling ``url`` (the demo's base URL)."""
        self._url = url
        self._given.set()

    def close(self) -> None:
        """Stop polling and wait for the thread."""
        self.stop.set()
        self._given.set()
        self._thread.join(5)

    def _run(self) -> None:
        with httpx.Client(timeout=2.0) as http:
            self._given.wait()
            polls = 0
            while self._url is not None and not self.stop.is_set():
                try:
                    status = http.get(f"{self._url}/readyz").status_code
                except httpx.HTTPError:  # the demo finished and stopped serving
                    return
                polls += 1
                if polls == 1:
                    self.first_poll_s = time.monotonic() - self.began
                if status == 200:
                    self.ready_s = time.monotonic() - self.began
                    self.ready_at_first_poll = polls == 1
                    return
                time.sleep(0.005)


def run_demo(workdir: Path, cwd: Path) -> DemoRun:
    """Run the demo once in ``workdir``; the time of each stage."""
    summary_file = cwd / f"summary-{time.monotonic_ns()}.json"
    run = DemoRun()
    began = time.monotonic()
    poller = ReadyPoller(began)
    proc = subprocess.Popen(_flowcast("demo", *DEMO_ARGS, "--workdir", str(workdir),
                                      "--summary", str(summary_file)),
                            cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            at = time.monotonic() - began
            for stage, pattern in STAGES.items():
                if stage not in run.stages and pattern.search(line):
                    run.stages[stage] = at
            found = URL_LINE.search(line)
            if found:
                poller.follow(found.group(1))
        assert proc.wait(timeout=600) == 0, f"flowcast demo exited with {proc.returncode}"
        run.total_s = time.monotonic() - began
    finally:
        poller.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run.first_condition_s = poller.ready_s
    run.ready_at_first_poll = poller.ready_at_first_poll
    run.first_poll_s = poller.first_poll_s
    run.summary = json.loads(summary_file.read_text())
    return run


@pytest.fixture(scope="module")
def warm_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory the demo has run in once (city, history), with the Numba cache warm."""
    cwd = tmp_path_factory.mktemp("demo-warmup")
    run_demo(cwd / "work", cwd)
    return cwd / "work"


@pytest.mark.parametrize("workdir_kind", ["fresh", "reused"])
def test_demo_time_to_first_condition(benchmark: Any, warm_workdir: Path,
                                      tmp_path_factory: pytest.TempPathFactory,
                                      workdir_kind: str) -> None:
    cwd = tmp_path_factory.mktemp(f"demo-{workdir_kind}")
    workdir = warm_workdir if workdir_kind == "reused" else cwd / "work"
    run: DemoRun = benchmark.pedantic(run_demo, args=(workdir, cwd), rounds=1, iterations=1)
    stages = {name: round(at, 2) for name, at in run.stages.items()}
    benchmark.extra_info.update({"workdir": workdir_kind, "stages_s": stages,
                                 "first_condition_s": run.first_condition_s,
                                 "ready_at_first_poll": run.ready_at_first_poll,
                                 "first_poll_s": run.first_poll_s,
                                 "total_s": run.total_s,
                                 "conditions": run.summary["conditions"]})
    first = run.first_condition_s
    bound = (f" (upper bound: /readyz was 200 at the first poll, "
             f"{(run.first_poll_s or 0) - run.stages['announced']:.3f} s after the URL line)"
             if run.ready_at_first_poll else "")
    print(f"\ndemo ({workdir_kind} workdir): first condition at "
          f"{first if first is None else round(first, 2)} s{bound}, total {run.total_s:.2f} s; "
          f"stages (s from start): {stages}; {run.summary['conditions']:,} conditions for "
          f"{run.summary['segments']} segments")
    assert set(run.stages) == set(STAGES)
    assert run.first_condition_s is not None
    assert run.stages["announced"] < run.first_condition_s < run.total_s
    assert run.summary["conditions"] >= run.summary["segments"] > 0
    # 60 simulated minutes of 5-minute buckets: at least the 12 live issue times per segment
    assert run.summary["conditions"] >= 12 * run.summary["segments"]


@dataclass
class ReplayInputs:
    """A simulated dataset, a small model trained on it, and what preparing them took."""

    dataset: Path
    model: Path
    simulate_s: float
    train_s: float


@pytest.fixture(scope="module")
def replay_inputs(tmp_path_factory: pytest.TempPathFactory) -> ReplayInputs:
    root = tmp_path_factory.mktemp("replay")
    began = time.monotonic()
    subprocess.run(_flowcast("simulate", "--sensors", str(REPLAY_SENSORS), "--spots", "1",
                             "--days", str(REPLAY_DAYS), "--seed", "0",
                             "--out", str(root / "data")),
                   cwd=root, env=_env(), check=True, capture_output=True)
    simulated = time.monotonic()
    subprocess.run(_flowcast("train", str(root / "data"), "--out", str(root / "model"),
                             "--max-trees", "30", "--no-quantiles", "--no-spots"),
                   cwd=root, env=_env(), check=True, capture_output=True)
    return ReplayInputs(root / "data", root / "model", simulated - began,
                        time.monotonic() - simulated)


def _replay(inputs: ReplayInputs, report: Path) -> dict[str, Any]:
    """Run ``flowcast replay`` into ``report``; its ``metrics.json``."""
    subprocess.run(_flowcast("replay", str(inputs.dataset), "--model", str(inputs.model),
                             "--report", str(report), "--no-progress"),
                   cwd=report.parent, env=_env(), check=True, capture_output=True)
    return json.loads((report / "metrics.json").read_text())


def test_replay_readings_per_second(benchmark: Any, replay_inputs: ReplayInputs,
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (replay_inputs, tmp_path_factory.mktemp("replay-report") / "report"), {}

    replay = Timed(_replay)
    metrics = benchmark.pedantic(replay, setup=setup, rounds=2, iterations=1)
    stream = metrics["meta"]["stream"]
    benchmark.extra_info.update({
        "sensors": REPLAY_SENSORS, "days": REPLAY_DAYS, "readings": stream["readings"],
        "engine_seconds": stream["seconds"], "readings_per_s": stream["readings_per_s"],
        "command_wall_s": replay.median, "simulate_s": replay_inputs.simulate_s,
        "train_s": replay_inputs.train_s, "messages": metrics["meta"]["messages"]})
    print(f"\nreplay ({REPLAY_SENSORS} sensors x {REPLAY_DAYS} days): "
          f"{stream['readings_per_s']:,} readings/s through the engine ({stream['readings']:,} "
          f"readings in {stream['seconds']} s, {stream['buckets']} buckets of which "
          f"{stream['warmup_buckets']} warm-up); command {replay.median:.1f} s wall "
          f"(median of {len(replay.seconds)}); preparing: simulate {replay_inputs.simulate_s:.1f}"
          f" s, train {replay_inputs.train_s:.1f} s")
    assert stream["readings"] > 0
    assert stream["buckets"] > stream["warmup_buckets"] > 0
    assert metrics["meta"]["messages"] > 0
