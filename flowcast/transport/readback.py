"""Reading the compacted alerts topic back: the newest message of each spot asked for.

A spot partition that a (re)started engine takes rebuilds its alert lifecycle from what it
published before: the alerts topic is keyed by spot id and compacted, so the newest record per
key is the spot's current alert state (``docs/alerts.md`` "Restart"). :func:`read_latest` reads
the topic from its beginning to the end offsets of the moment, with a consumer of its own that
joins no group (``assign``, never ``subscribe``), so the engine's group is not disturbed.

:func:`bus_alerts_reader` and :func:`kafka_alerts_reader` make the
``AlertsReader = Callable[[list[str]], list[bytes]]`` the engine takes, over the in-process bus
and over Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka.structs import TopicPartition

from flowcast.config import KafkaSettings
from flowcast.transport.kafka_client import make_consumer

AlertsReader = Callable[[list[str]], list[bytes]]
"""Spot ids -> the newest alert message value of each of them that the topic holds."""


class ReadBackTimeout(RuntimeError):
    """The alerts topic could not be read to its end in time."""


def read_latest(consumer: Any, topic: str, keys: Iterable[str],
                timeout_s: float = 10.0) -> list[bytes]:
    """Values of the newest record of each key in ``keys`` on ``topic`` (a tombstone drops the
    key), read with ``consumer`` (kafka-python's interface; assigned here, so it must not be
    subscribed) from the beginning to the end offsets at the call. Raises
    :class:`ReadBackTimeout` when the end is not reached within ``timeout_s``."""
    wanted = {str(k).encode() for k in keys}
    partitions = sorted(consumer.partitions_for_topic(topic) or ())
    tps = [TopicPartition(topic, p) for p in partitions]
    if not tps or not wanted:
        return []
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    begin = consumer.beginning_offsets(tps)
    end = consumer.end_offsets(tps)
    remaining = {tp for tp in tps if int(end[tp]) > int(begin[tp])}
    latest: dict[bytes, bytes] = {}
    deadline = time.monotonic() + timeout_s
    while remaining:
        if time.monotonic() > deadline:
            raise ReadBackTimeout(f"{topic} not read to its end within {timeout_s:g} s")
        polled = consumer.poll(timeout_ms=200, max_records=10_000)
        for tp, records in polled.items():
            stop = int(end[tp])
            for record in records:  # once per assignment, over a compacted topic
                if record.offset >= stop or record.key not in wanted:
                    continue
                if record.value is None:
                    latest.pop(record.key, None)
                else:
                    latest[record.key] = record.value
        for tp in list(remaining):
            if consumer.position(tp) >= int(end[tp]):
                remaining.discard(tp)
    return list(latest.values())


def bus_alerts_reader(bus: Any, topic: str, timeout_s: float = 10.0) -> AlertsReader:
    """An :data:`AlertsReader` of ``topic`` on the in-process bus (a fresh consumer per read)."""

    def read(keys: list[str]) -> list[bytes]:
        consumer = bus.consumer()
        try:
            return read_latest(consumer, topic, keys, timeout_s)
        finally:
            consumer.close()

    return read


def kafka_alerts_reader(kafka: KafkaSettings, topic: str,
                        timeout_s: float = 10.0) -> AlertsReader:
    """An :data:`AlertsReader` of ``topic`` on the Kafka cluster of ``kafka`` (a short-lived
    consumer of no group per read)."""

    def read(keys: list[str]) -> list[bytes]:
        consumer = make_consumer(kafka, group_id=None, timeout_s=timeout_s)
        try:
            return read_latest(consumer, topic, keys, timeout_s)
        finally:
            consumer.close()

    return read
