"""Producing and consuming through a real broker with flowcast's client settings."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka_fixture import KafkaNames

from flowcast.config import Settings
from flowcast.transport.kafka_client import make_consumer, make_producer

pytestmark = pytest.mark.kafka

# Fast group membership for the tests (the broker's minimum session timeout is 6 s).
GROUP_TIMINGS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300,
                 "max_poll_interval_ms": 10_000}


def _create(admin: KafkaAdminClient, topic: str, partitions: int) -> None:
    admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1}},
                        wait_for_metadata=True)


def _wait_for_partitions(consumer: KafkaConsumer, topic: str, count: int,
                         timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(consumer.partitions_for_topic(topic) or ()) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{topic} has no metadata for {count} partitions after {timeout_s} s")
        time.sleep(0.2)


def _read_all(consumer: KafkaConsumer, count: int, timeout_s: float = 20.0) -> list:
    records: list = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def test_keys_headers_and_values_round_trip_in_order(
    kafka_admin: KafkaAdminClient, kafka_names: KafkaNames, kafka_settings: Settings,
) -> None:
    topic = kafka_names.topic("roundtrip")
    _create(kafka_admin, topic, partitions=3)
    producer = make_producer(kafka_settings.kafka)
    sent = []
    for i in range(60):
        key = f"region-{i % 5}".encode()
        value = None if i == 59 else f'{{"seq": {i}}}'.encode()  # a tombstone at the end
        headers = [("content-type", b"application/json"), ("seq", str(i).encode())]
        sent.append((key, value, headers))
        producer.send(topic, key=key, value=value, headers=headers,
                      timestamp_ms=1_764_000_000_000 + i)
    producer.flush(timeout=30)
    producer.close()

    consumer = make_consumer(kafka_settings.kafka, group_id=None)
    partitions = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records = _read_all(consumer, len(sent))
    consumer.close()

    assert len(records) == len(sent)
    by_key: dict[bytes, list] = defaultdict(list)
    for record in records:
        by_key[record.key].append(record)
    for key, group in by_key.items():
        assert len({r.partition for r in group}) == 1, f"{key!r} spread over partitions"
        group.sort(key=lambda r: r.offset)
        expected = [(v, h) for k, v, h in sent if k == key]
        assert [(r.value, list(r.headers)) for r in group] == expected  # order kept per key
        assert [r.timestamp for r in group] == sorted(r.timestamp for r in group)
    assert records and all(r.timestamp >= 1_764_000_000_000 for r in records)


def test_a_group_of_two_splits_partitions_then_one_takes_all(
    kafka_admin: KafkaAdminClient, kafka_names: KafkaNames, kafka_settings: Settings,
) -> None:
    topic = kafka_names.topic("grouped")
    _create(kafka_admin, topic, partitions=4)
    everything = {TopicPartition(topic, p) for p in range(4)}
    # both members know the topic's partitions before they join: a leader that assigns
    # without them gives nobody anything until its next metadata refresh
    first = make_consumer(kafka_settings.kafka, **GROUP_TIMINGS)
    second = make_consumer(kafka_settings.kafka, **GROUP_TIMINGS)
    for consumer in (first, second):
        _wait_for_partitions(consumer, topic, 4)
        consumer.subscribe([topic])
    try:
        def split() -> bool:
            a, b = first.assignment(), second.assignment()
            return bool(a) and bool(b) and not a & b and a | b == everything

        _poll_until(split, first, second, timeout_s=60.0)
        assert len(first.assignment()) == len(second.assignment()) == 2
    finally:
        second.close()
    try:
        _poll_until(lambda: first.assignment() == everything, first)
    finally:
        first.close()


def test_consumers_made_from_settings_join_the_configured_group(
    kafka_admin: KafkaAdminClient, kafka_names: KafkaNames, kafka_settings: Settings,
) -> None:
    topic = kafka_names.topic("committed")
    _create(kafka_admin, topic, partitions=1)
    producer = make_producer(kafka_settings.kafka)
    for i in range(3):
        producer.send(topic, value=str(i).encode())
    producer.flush(timeout=30)
    producer.close()
    consumer = make_consumer(kafka_settings.kafka, topic, **GROUP_TIMINGS)
    assert len(_read_all(consumer, 3)) == 3
    consumer.commit()
    consumer.close()
    group = kafka_settings.kafka.group_id
    offsets = kafka_admin.list_group_offsets(group)[group]
    assert offsets[TopicPartition(topic, 0)].offset == 3
    # auto-commit is off: a consumer that reads and closes without commit() leaves no trace
    other = make_consumer(kafka_settings.kafka, topic, group_id=kafka_names.group("quiet"),
                          **GROUP_TIMINGS)
    assert len(_read_all(other, 3)) == 3
    other.close()
    quiet = kafka_names.group("quiet")
    assert not kafka_admin.list_group_offsets(quiet)[quiet]


def _poll_until(done: Callable[[], bool], *consumers: KafkaConsumer,
                timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            pytest.fail("group assignment did not settle: "
                        + "; ".join(str(sorted(c.assignment())) for c in consumers))
        for consumer in consumers:
            consumer.poll(timeout_ms=100)
