"""The demo's clock: the event time the simulated stream has reached, moved by the sink that
sends the stream, so the engine's "now" follows the simulated city, not the wall."""

from __future__ import annotations

import threading
import time

from flowcast.transport.sinks import Headers, RecordSink


class StreamClock:
    """The engine's clock in the demo: the event time the stream has reached (epoch ms), so
    "too far in the future" and idle watermarks follow the simulated city, not the wall."""

    def __init__(self, ms: int) -> None:
        self._ms = ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """Event time reached by the stream, epoch ms."""
        return self._ms

    def monotonic(self) -> float:
        """Real monotonic seconds (latencies stay real)."""
        return time.monotonic()

    def advance(self, ms: int) -> None:
        """Move forward to ``ms`` (never back)."""
        with self._lock:
            if ms > self._ms:
                self._ms = ms


class ClockingSink:
    """A sink that moves a :class:`StreamClock` to each record's timestamp once it is sent."""

    def __init__(self, sink: RecordSink, clock: StreamClock) -> None:
        self.sink = sink
        self.clock = clock

    def send(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None,
             timestamp_ms: int | None = None) -> None:
        """Send, then advance the clock to the record's time (epoch ms)."""
        self.sink.send(topic, key, value, headers, timestamp_ms)
        if timestamp_ms is not None:
            self.clock.advance(timestamp_ms)

    def flush(self, timeout: float | None = None) -> None:
        """Flush the wrapped sink."""
        self.sink.flush(timeout)

    def close(self) -> None:
        """Close the wrapped sink."""
        self.sink.close()
