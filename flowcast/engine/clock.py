"""Where the engine reads the time; tests and replays hand it a clock of their own."""

from __future__ import annotations

import threading
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


class EventClock:
    """An engine clock that follows event time instead of the wall: epoch ms that its driver
    moves (a replay, the demo's stream, a test), with a real monotonic clock for latencies.

    ``ms`` may be set directly; :meth:`advance` moves it forward only, from any thread.

    >>> clock = EventClock(1_000)
    >>> clock.advance(5_000); clock.advance(2_000)
    >>> clock.now_ms()
    5000
    """

    def __init__(self, now_ms: int = 0) -> None:
        self.ms = int(now_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """The event time reached, epoch ms."""
        return self.ms

    def monotonic(self) -> float:
        """Seconds on the process's monotonic clock."""
        return time.monotonic()

    def advance(self, ms: int) -> None:
        """Move forward to ``ms`` epoch ms (never back)."""
        with self._lock:
            if ms > self.ms:
                self.ms = int(ms)
