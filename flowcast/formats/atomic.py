"""Atomic writes: a directory (dataset, model) or a file is either all new or all old.

A directory is written into a hidden temporary sibling, which is then renamed into place; a
directory it replaces is first renamed aside (``.NAME.old``) and put back if the swap fails, so
an interrupted write never leaves a half-written directory behind and never loses the old one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def write_directory(path: Path, fill: Callable[[Path], T], *, mode: int | None = None) -> T:
    """Write the directory ``path`` atomically: ``fill(folder)`` writes everything into a
    hidden sibling folder (created with permissions ``mode``, default the umask's), which then
    replaces ``path``. Returns what ``fill`` returns. On any failure the sibling is removed and
    ``path`` is as it was. The caller decides beforehand whether ``path`` may be replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    # mkdtemp makes it 0700; a dataset or model directory is shared like a file
    os.chmod(tmp, 0o777 & ~_umask() if mode is None else mode)
    try:
        result = fill(tmp)
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def write_file(path: Path, write: Callable[[Path], None]) -> None:
    """Replace the file ``path`` atomically: ``write(tmp)`` writes a hidden sibling, which is
    then renamed over ``path`` (removed if anything fails)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _swap_into_place(tmp: Path, path: Path) -> None:
    if not path.exists():
        tmp.rename(path)
        return
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    path.rename(old)
    try:
        tmp.rename(path)
    except BaseException:
        old.rename(path)  # put the previous directory back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
