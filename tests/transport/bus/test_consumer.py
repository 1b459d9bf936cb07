"""Consuming from the bus: polling, commits, seeks, time lookups, retention, pausing."""

from __future__ import annotations

import threading
import time

import pytest
from kafka.errors import IllegalStateError
from kafka.structs import OffsetAndMetadata, TopicPartition

from flowcast.transport.bus.broker import Bus

T = "readings"


def tp(p: int, topic: str = T) -> TopicPartition:
    return TopicPartition(topic, p)


def fill(bus: Bus, n: int, key: bytes | None = None, start_ts: int = 1_000) -> None:
    producer = bus.producer()
    for i in range(n):
        producer.send(T, value=b"v%d" % i, key=key, timestamp_ms=start_ts + i * 10)


def test_poll_respects_max_records_and_resumes() -> None:
    bus = Bus(default_partitions=1)
    fill(bus, 25)
    consumer = bus.consumer(T, group_id="g", auto_offset_reset="earliest",
                            enable_auto_commit=False)
    seen = []
    for _ in range(4):
        seen += [r.value for r in consumer.poll(max_records=10).get(tp(0), [])]
    assert seen == [b"v%d" % i for i in range(25)]
    assert consumer.position(tp(0)) == 25


def test_commit_then_new_consumer_resumes_from_committed() -> None:
    bus = Bus(default_partitions=1)
    fill(bus, 10)
    first = bus.consumer(T, group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    first.poll(max_records=4)
    first.commit({tp(0): OffsetAndMetadata(4, "", -1)})
    assert first.committed(tp(0)) == 4
    assert first.committed(tp(0), metadata=True).offset == 4
    first.close()
    second = bus.consumer(T, group_id="g", auto_offset_reset="earliest")
    assert second.poll(timeout_ms=100)[tp(0)][0].offset == 4
    assert second.committed(tp(1)) is None


def test_auto_commit_commits_what_was_polled() -> None:
    bus = Bus(default_partitions=1)
    fill(bus, 5)
    consumer = bus.consumer(T, group_id="g", auto_offset_reset="earliest")
    consumer.poll(max_records=3)
    consumer.close()
    assert bus.consumer(T, group_id="g").committed(tp(0)) == 3


def test_seek_and_offset_lookups() -> None:
    bus = Bus(default_partitions=1)
    fill(bus, 10)  # timestamps 1000, 1010, ..., 1090
    consumer = bus.consumer(group_id="g", enable_auto_commit=False)
    consumer.assign([tp(0)])
    assert consumer.position(tp(0)) == 10  # latest
    consumer.seek(tp(0), 7)
    assert [r.offset for r in consumer.poll()[tp(0)]] == [7, 8, 9]
    consumer.seek_to_beginning()
    assert consumer.position(tp(0)) == 0
    found = consumer.offsets_for_times({tp(0): 1_035})[tp(0)]
    assert (found.offset, found.timestamp) == (4, 1_040)
    assert consumer.offsets_for_times({tp(0): 5_000})[tp(0)] is None
    assert consumer.beginning_offsets([tp(0)]) == {tp(0): 0}
    assert consumer.end_offsets([tp(0)]) == {tp(0): 10}
    with pytest.raises(IllegalStateError):
        consumer.seek(tp(3), 0)


def test_retention_drops_oldest_but_keeps_offsets() -> None:
    bus = Bus(default_partitions=1, retention=100)
    fill(bus, 1_000)
    consumer = bus.consumer(group_id="g", auto_offset_reset="earliest")
    consumer.assign([tp(0)])
    begin = consumer.beginning_offsets([tp(0)])[tp(0)]
    assert consumer.end_offsets([tp(0)]) == {tp(0): 1_000}
    assert 1_000 - 100 - 16 <= begin <= 900  # trimmed in chunks of at most 1/8 (min 16)
    consumer.seek(tp(0), 3)  # trimmed away: reset to the earliest retained
    records = consumer.poll(max_records=5)[tp(0)]
    assert records[0].offset == begin and records[0].value == b"v%d" % begin


def test_blocking_poll_wakes_on_produce() -> None:
    bus = Bus(default_partitions=2)
    consumer = bus.consumer(T, group_id="g")
    consumer.poll()  # join: positions at the (empty) end
    timer = threading.Timer(0.05, lambda: bus.producer().send(T, b"late", key=b"k"))
    start = time.monotonic()
    timer.start()
    got = consumer.poll(timeout_ms=5_000)
    assert time.monotonic() - start < 2.0
    assert [r.value for records in got.values() for r in records] == [b"late"]


def test_poll_times_out_empty_and_wakeup_interrupts() -> None:
    bus = Bus(default_partitions=1)
    consumer = bus.consumer(T, group_id="g")
    start = time.monotonic()
    assert consumer.poll(timeout_ms=50) == {}
    assert time.monotonic() - start >= 0.04
    threading.Timer(0.05, consumer.wakeup).start()
    start = time.monotonic()
    assert consumer.poll(timeout_ms=5_000) == {}
    assert time.monotonic() - start < 2.0


def test_pause_and_resume() -> None:
    bus = Bus(default_partitions=1)
    consumer = bus.consumer(T, group_id="g", auto_offset_reset="earliest")
    fill(bus, 3)
    consumer.poll(max_records=1)
    consumer.pause(tp(0))
    assert consumer.poll() == {} and consumer.paused() == {tp(0)}
    consumer.resume(tp(0))
    assert len(consumer.poll()[tp(0)]) == 2
