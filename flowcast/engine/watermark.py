"""A partition's event-time watermark (DESIGN.md "Time").

Recommended order in the engine, per polled batch of one partition::

    wm.observe(int(batch.ts_ms.max()), now_ms)
    closed = state.close_until(wm.value)   # forecasts for closed.bucket_ids
    result = state.add(batch)              # result.status: AHEAD / INVALID -> dead letters

and when a partition is idle: ``if wm.advance_idle(now_ms, idle_ms): state.close_until(...)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Watermark:
    """One partition's event-time watermark, epoch ms.

    ``value`` = newest event time seen - ``allowed_lateness_ms``, never decreasing; ``None``
    before any event. When no event has arrived for ``idle_timeout`` of wall-clock time, the
    event time is taken to run on with the wall clock from the newest event, so a silent
    partition still gets its buckets closed (and a replay running behind real time is not
    pushed ahead of its own data).

    >>> wm = Watermark(allowed_lateness_ms=60_000)
    >>> wm.observe(1_000_000, now_ms=5_000_000)
    940000
    >>> wm.advance_idle(5_020_000, idle_timeout_ms=30_000)  # 20 s of silence: not idle yet
    False
    >>> wm.advance_idle(5_030_000, idle_timeout_ms=30_000)  # idle: runs on with the clock
    True
    >>> wm.value
    970000
    """

    allowed_lateness_ms: int
    value: int | None = None
    newest_event_ms: int | None = None
    last_arrival_ms: int | None = None

    def observe(self, max_ts_ms: int, now_ms: int | None = None) -> int | None:
        """Events up to ``max_ts_ms`` (epoch ms) arrived at wall-clock ``now_ms`` (default:
        the clock); returns the watermark."""
        now = time.time_ns() // 1_000_000 if now_ms is None else int(now_ms)
        newest = int(max_ts_ms)
        if self.newest_event_ms is None or newest > self.newest_event_ms:
            self.newest_event_ms = newest
        self.last_arrival_ms = now
        self._raise_to(self.newest_event_ms - self.allowed_lateness_ms)
        return self.value

    def silent_for(self, now_ms: int) -> int:
        """Milliseconds since the last event arrived (0 before any event)."""
        return 0 if self.last_arrival_ms is None else int(now_ms) - self.last_arrival_ms

    def advance_idle(self, now_ms: int, idle_timeout_ms: int) -> bool:
        """Advance with the wall clock when nothing arrived for ``idle_timeout_ms``; True when
        the watermark moved."""
        if self.newest_event_ms is None or self.last_arrival_ms is None:
            return False
        silent = int(now_ms) - self.last_arrival_ms
        if silent < idle_timeout_ms:
            return False
        before = self.value
        self._raise_to(self.newest_event_ms + silent - self.allowed_lateness_ms)
        return self.value != before

    def _raise_to(self, candidate: int) -> None:
        if self.value is None or candidate > self.value:
            self.value = candidate
