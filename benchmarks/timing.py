"""Timing that also works under ``--benchmark-disable`` (CI runs every benchmark once as a
test; pytest-benchmark then keeps no statistics)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


class Timed:
    """Wraps a function and records the wall time of each call."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.seconds: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return self.func(*args, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - began)

    @property
    def median(self) -> float:
        """Median seconds per call."""
        return statistics.median(self.seconds)

    @property
    def mean(self) -> float:
        """Mean seconds per call."""
        return statistics.fmean(self.seconds)

    @property
    def best(self) -> float:
        """Fastest call, seconds."""
        return min(self.seconds)
