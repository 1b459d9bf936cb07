"""The bus's partitions: Kafka's key partitioner, the time index's running maximum."""

from __future__ import annotations

from kafka.partitioner.default import murmur2
from kafka.structs import TopicPartition

from flowcast.transport.bus.broker import Bus
from flowcast.transport.bus.log import partition_for

T = "readings"


def tp(p: int, topic: str = T) -> TopicPartition:
    return TopicPartition(topic, p)


def test_key_partitioning_is_stable_and_matches_kafka() -> None:
    bus = Bus(default_partitions=6)
    producer = bus.producer()
    keys = [b"R%04d" % i for i in range(40)]
    parts = [producer.send(T, b"x", key=k).get().partition for k in keys]
    again = [producer.send(T, b"y", key=k).get().partition for k in keys]
    assert parts == again
    assert parts == [(murmur2(k) & 0x7FFFFFFF) % 6 for k in keys]  # the Java client's choice
    assert partition_for(b"R0001", 6) == parts[1]
    assert len(set(parts)) > 1


def test_offsets_for_times_uses_running_maximum_like_the_time_index() -> None:
    bus = Bus(default_partitions=1)
    producer = bus.producer()
    for ts in (100, 300, 200, 400):  # a late record at offset 2
        producer.send(T, b"x", timestamp_ms=ts)
    consumer = bus.consumer(group_id="g")
    assert consumer.offsets_for_times({tp(0): 150})[tp(0)].offset == 1
    assert consumer.offsets_for_times({tp(0): 350})[tp(0)].offset == 3
