"""The demo's clock: the event time the simulated stream has reached, moved by the sink that
sends the stream, so the engine's "now" follows the simulated city, not the wall."""

from __future__ import annotations

from flowcast.engine.clock import EventClock
from flowcast.transport.sinks import Headers, RecordSink


class ClockingSink:
    """A sink that moves a :class:`EventClock` to each record's timestamp once it is sent."""

    def __init__(self, sink: RecordSink, clock: EventClock) -> None:
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
