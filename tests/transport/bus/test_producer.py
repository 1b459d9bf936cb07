"""Sending to the bus: offsets, timestamps, headers, and concurrent producers."""

from __future__ import annotations

import threading
import time

from kafka.structs import TopicPartition

from flowcast.transport.bus.broker import Bus

T = "readings"


def tp(p: int, topic: str = T) -> TopicPartition:
    return TopicPartition(topic, p)


def test_records_carry_offsets_timestamps_and_headers() -> None:
    bus = Bus(default_partitions=1)
    meta = bus.producer().send(T, b"hello", key=b"k", headers=[("h", b"1")], timestamp_ms=42)
    assert meta.succeeded() and meta.get().offset == 0
    consumer = bus.consumer(T, group_id="g", auto_offset_reset="earliest")
    (record,) = consumer.poll(timeout_ms=100)[tp(0)]
    assert (record.topic, record.partition, record.offset, record.timestamp) == (T, 0, 0, 42)
    assert (record.key, record.value, record.headers) == (b"k", b"hello", [("h", b"1")])


def test_concurrent_producers_lose_nothing() -> None:
    bus = Bus(default_partitions=3)
    consumer = bus.consumer(T, group_id="g", auto_offset_reset="earliest")

    def produce(worker: int) -> None:
        producer = bus.producer()
        for i in range(500):
            producer.send(T, b"%d-%d" % (worker, i), key=b"%d" % (i % 7))

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    seen: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(seen) < 2_000 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=100, max_records=300).values():
            seen += [r.value for r in records]
    for thread in threads:
        thread.join()
    assert sorted(seen) == sorted(b"%d-%d" % (w, i) for w in range(4) for i in range(500))
