"""Progress bars for what a person waits for (training, backtests, imports, streams).

One way to make them: :func:`progress_bar` is ``tqdm`` that draws only on a terminal. When
stderr goes to a file, a pipe or a supervisor's log, it draws nothing (no carriage returns or
escape codes in logs); ``enabled=False`` turns it off everywhere.

>>> sum(progress_bar(range(4), enabled=False, desc="counting"))
6
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(iterable: Iterable[T] | None = None, *, enabled: bool = True,
                 **tqdm_kwargs: Any) -> tqdm:
    """A ``tqdm`` bar over ``iterable`` (or updated by hand) with ``tqdm_kwargs``; drawn only
    when ``enabled`` and stderr is a terminal (tqdm's ``disable=None``)."""
    return tqdm(iterable, disable=None if enabled else True, dynamic_ncols=True, **tqdm_kwargs)
