"""Damaged boosters for the tests: each passes its checksum (it is rewritten in ``model.json``),
so only the loader's structure check and its probe in a child process stand between it and a
crash of the test process."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path


def resize_trees(text: str) -> str:
    """``text`` with its ``tree_sizes`` header recomputed, so that edited trees still look
    whole to LightGBM (and to the structure check)."""
    end = text.index("\nend of trees\n") + 1
    data = text[:end].encode("utf-8")
    starts = [m.start() for m in re.finditer(rb"^Tree=\d+$", data, re.M)]
    sizes = [b - a for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]
    return re.sub(r"^tree_sizes=.*$", "tree_sizes=" + " ".join(map(str, sizes)), text,
                  count=1, flags=re.M)


def truncated(text: str) -> str:
    """The first half of the file: cut in the middle of its trees."""
    return text[: len(text) // 2]


def absurd_leaf_count(text: str) -> str:
    """The first tree claims 70000 leaves; its arrays say otherwise. LightGBM aborts (SIGABRT)
    when it parses this."""
    return resize_trees(re.sub(r"^num_leaves=\d+$", "num_leaves=70000", text, count=1,
                               flags=re.M))


def huge_leaves(text: str) -> str:
    """Every leaf of every tree worth 1e308: the trees' sum overflows to infinity."""

    def huge(match: re.Match[str]) -> str:
        return "leaf_value=" + " ".join(["1e308"] * len(match.group(1).split()))

    return resize_trees(re.sub(r"^leaf_value=(.*)$", huge, text, flags=re.M))


def damage(model_dir: Path, file: str, change: Callable[[str], str],
           version: str | None = None) -> None:
    """Rewrite the booster ``file`` of ``model_dir`` as ``change(text)`` and its sha256 in
    ``model.json`` to match; with ``version``, give ``model.json`` that version id too (a new
    version as a hot reload sees it)."""
    path = model_dir / file
    text = change(path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    doc_path = model_dir / "model.json"
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    for kinds in doc["boosters"].values():
        for entry in kinds.values():
            if entry["file"] == file:
                entry["sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if version is not None:
        doc["version"] = version
    doc_path.write_text(json.dumps(doc), encoding="utf-8")
