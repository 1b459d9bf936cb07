"""Where the engine reads the time; tests and replays hand it a clock of their own."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Epoch ms for event-time checks and idle watermarks, and a monotonic clock for
    latencies."""

    def now_ms(self) -> int:
        """Epoch milliseconds."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...


class WallClock:
    """The real clock."""

    def now_ms(self) -> int:
        """Epoch milliseconds now."""
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        """Seconds on the monotonic clock."""
        return time.monotonic()
