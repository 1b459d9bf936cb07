"""The demo's clock: it follows the records the clocking sink sends, never back."""

from __future__ import annotations

from flowcast.cli.demo.clock import ClockingSink
from flowcast.engine.clock import EventClock
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink


def test_stream_clock_follows_sent_records_and_never_goes_back() -> None:
    bus = Bus(default_partitions=1)
    clock = EventClock(1_000)
    sink = ClockingSink(BusSink(bus), clock)
    sink.send("t", b"k", b"v", None, 5_000)
    assert clock.now_ms() == 5_000
    sink.send("t", b"k", b"v", None, 3_000)  # an older record does not move time back
    sink.send("t", b"k", b"v", None, None)
    assert clock.now_ms() == 5_000
    consumer = bus.consumer("t", auto_offset_reset="earliest")
    records = [r for batch in consumer.poll(timeout_ms=100).values() for r in batch]
    assert len(records) == 3
