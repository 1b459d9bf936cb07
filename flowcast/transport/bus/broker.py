"""An in-process, thread-safe stand-in for Kafka, so the demo and tests run with no broker.

:class:`Bus` holds named topics of N partitions (:mod:`flowcast.transport.bus.log`) and the
consumer groups; :class:`~flowcast.transport.bus.producer.BusProducer` and
:class:`~flowcast.transport.bus.consumer.BusConsumer` mirror the subset of kafka-python's
``KafkaProducer`` and ``KafkaConsumer`` that the engine uses, with kafka-python's own record and
offset types, so the engine runs over either unchanged.

Consumers in one group split the partitions of the topics they subscribe to and rebalance
eagerly when members come and go. A blocking ``poll`` waits on the bus's condition variable.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata, TopicPartition

from flowcast.transport.bus.consumer import BusConsumer
from flowcast.transport.bus.log import CREATE_TIME, Headers, PartitionLog, partition_for
from flowcast.transport.bus.producer import BusProducer


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ConsumerGroup:
    """One consumer group: its members' subscriptions, the current assignment and commits."""

    members: dict[int, frozenset[str]] = field(default_factory=dict)  # member -> topics
    generation: int = 0
    assignment: dict[int, frozenset[TopicPartition]] = field(default_factory=dict)
    committed: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)


class Bus:
    """Topics, partitions, logs and consumer groups, shared by producers and consumers.

    ``default_partitions``: partitions of a topic created implicitly (by a send or a
    subscribe); ``retention``: records kept per partition (the oldest are dropped);
    ``clock_ms``: the time stamped on records sent without ``timestamp_ms``.

    >>> bus = Bus(default_partitions=2)
    >>> bus.create_topic("flowcast.road.readings")
    >>> sent = bus.producer().send("flowcast.road.readings", b'{"flow": 14}', key=b"R01").get()
    >>> consumer = bus.consumer("flowcast.road.readings", auto_offset_reset="earliest")
    >>> [(r.key, r.value, r.offset) for rs in consumer.poll().values() for r in rs]
    [(b'R01', b'{"flow": 14}', 0)]
    """

    def __init__(self, default_partitions: int = 6, retention: int = 200_000,
                 clock_ms: Callable[[], int] = _now_ms) -> None:
        if default_partitions < 1 or retention < 1:
            raise ValueError("partitions and retention must be at least 1")
        self.default_partitions = default_partitions
        self.retention = retention
        self.clock_ms = clock_ms
        self.cond = threading.Condition()
        self._logs: dict[str, list[PartitionLog]] = {}
        self._groups: dict[str, ConsumerGroup] = {}
        self._round_robin: dict[str, itertools.count] = {}
        self._member_ids = itertools.count()

    # ----- topics --------------------------------------------------------------------
    def create_topic(self, name: str, partitions: int | None = None) -> None:
        """Create a topic (no-op when it exists with that many partitions)."""
        n = partitions or self.default_partitions
        with self.cond:
            logs = self._logs.get(name)
            if logs is not None:
                if partitions is not None and len(logs) != partitions:
                    raise ValueError(f"topic {name!r} exists with {len(logs)} partitions")
                return
            self._logs[name] = [PartitionLog(self.retention) for _ in range(n)]
            self._round_robin[name] = itertools.count()
            for group in self._groups.values():
                if any(name in topics for topics in group.members.values()):
                    self._rebalance(group)
            self.cond.notify_all()

    def topics(self) -> set[str]:
        """Names of all topics."""
        with self.cond:
            return set(self._logs)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        """Partition numbers of a topic, None if it does not exist."""
        with self.cond:
            logs = self._logs.get(topic)
            return None if logs is None else set(range(len(logs)))

    def producer(self) -> BusProducer:
        """A producer on this bus."""
        return BusProducer(self)

    def consumer(self, *topics: str, **configs: Any) -> BusConsumer:
        """A consumer on this bus (see :class:`BusConsumer` for ``configs``)."""
        return BusConsumer(*topics, bus=self, **configs)

    # ----- records -------------------------------------------------------------------
    def append(self, topic: str, value: bytes | None, key: bytes | None,
               headers: Headers | None, partition: int | None,
               timestamp_ms: int | None) -> ConsumerRecord:
        """Append one record and return it as consumers will see it. Creates the topic when
        missing; picks the partition by key (round-robin without one) unless given."""
        if topic not in self._logs:
            self.create_topic(topic)
        with self.cond:
            logs = self._logs[topic]
            if partition is None:
                partition = (partition_for(key, len(logs)) if key is not None
                             else next(self._round_robin[topic]) % len(logs))
            elif not 0 <= partition < len(logs):
                raise ValueError(f"topic {topic!r} has no partition {partition}")
            log = logs[partition]
            ts = self.clock_ms() if timestamp_ms is None else int(timestamp_ms)
            sizes = (-1 if key is None else len(key), -1 if value is None else len(value))
            record = ConsumerRecord(topic, partition, -1, log.end, ts, CREATE_TIME, key, value,
                                    list(headers or []), None, sizes[0], sizes[1], -1)
            log.append(record)
            self.cond.notify_all()
        return record

    def log(self, tp: TopicPartition) -> PartitionLog:
        """The log of a partition (caller holds ``cond``); KeyError/IndexError if absent."""
        return self._logs[tp.topic][tp.partition]

    # ----- groups --------------------------------------------------------------------
    def join(self, group_id: str, topics: Iterable[str]) -> int:
        """Add a member subscribed to ``topics``; returns its member id."""
        member = next(self._member_ids)
        with self.cond:
            group = self._groups.setdefault(group_id, ConsumerGroup())
            group.members[member] = frozenset(topics)
            self._rebalance(group)
        return member

    def leave(self, group_id: str, member: int) -> None:
        """Remove a member; the others share its partitions."""
        with self.cond:
            group = self._groups.get(group_id)
            if group is not None and group.members.pop(member, None) is not None:
                self._rebalance(group)

    def group(self, group_id: str) -> ConsumerGroup:
        """The state of a group (caller holds ``cond``)."""
        return self._groups.setdefault(group_id, ConsumerGroup())

    def _rebalance(self, group: ConsumerGroup) -> None:
        """Spread each topic's partitions round-robin over the members subscribed to it."""
        assignment: dict[int, set[TopicPartition]] = {m: set() for m in group.members}
        for topic in sorted(set().union(*group.members.values()) if group.members else ()):
            members = sorted(m for m, topics in group.members.items() if topic in topics)
            for p in range(len(self._logs.get(topic, []))):
                assignment[members[p % len(members)]].add(TopicPartition(topic, p))
        group.assignment = {m: frozenset(tps) for m, tps in assignment.items()}
        group.generation += 1
        self.cond.notify_all()
