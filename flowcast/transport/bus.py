"""An in-process, thread-safe stand-in for Kafka, so the demo and tests run with no broker.

:class:`Bus` holds named topics of N partitions; :class:`BusProducer` and
:class:`BusConsumer` mirror the subset of kafka-python's ``KafkaProducer`` and
``KafkaConsumer`` that the engine uses, with kafka-python's own record and offset types
(``TopicPartition``, ``OffsetAndMetadata``, ``OffsetAndTimestamp``, ``ConsumerRecord``,
``RecordMetadata``), so the engine runs over either unchanged.

Semantics kept from Kafka: keyed records go to ``murmur2(key) % partitions`` (the Java and
kafka-python default, so a key lands on the same partition number here as on a broker);
offsets are per partition and survive retention; ``offsets_for_times`` returns the earliest
offset whose timestamp is >= the target (by running maximum, like the broker's time index);
consumers in one group split the partitions of the topics they subscribe to and rebalance
eagerly when members come and go, calling a ``ConsumerRebalanceListener``. Retention is a
record count per partition. A blocking ``poll`` waits on a condition variable.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import IllegalStateError, KafkaTimeoutError, NoOffsetForPartitionError
from kafka.future import Future
from kafka.partitioner.default import murmur2
from kafka.producer.future import RecordMetadata
from kafka.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

Headers = list[tuple[str, bytes]]
_CREATE_TIME = 0  # Kafka timestamp type: set by the producer


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@lru_cache(maxsize=65536)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a non-null key."""
    return _key_hash(key) % partitions


class _Log:
    """One partition: records with consecutive offsets from ``base``, trimmed from the front."""

    def __init__(self, retention: int) -> None:
        self.base = 0
        self.records: list[ConsumerRecord] = []
        self.max_ts: list[int] = []  # running maximum timestamp, for the time index
        self.retention = retention
        self.slack = max(16, retention // 8)  # trim in chunks: amortised O(1) per append

    @property
    def end(self) -> int:
        return self.base + len(self.records)

    def append(self, record: ConsumerRecord) -> None:
        self.records.append(record)
        self.max_ts.append(max(record.timestamp, self.max_ts[-1]) if self.max_ts
                           else record.timestamp)
        excess = len(self.records) - self.retention
        if excess >= self.slack:
            del self.records[:excess]
            del self.max_ts[:excess]
            self.base += excess

    def read(self, offset: int, limit: int) -> list[ConsumerRecord]:
        start = offset - self.base
        return self.records[start:start + limit]

    def offset_for_time(self, ts: int) -> OffsetAndTimestamp | None:
        i = bisect.bisect_left(self.max_ts, ts)
        if i == len(self.records):
            return None
        return OffsetAndTimestamp(self.base + i, self.records[i].timestamp, -1)


class BusFuture(Future):
    """A completed send, like kafka-python's ``FutureRecordMetadata``."""

    def get(self, timeout: float | None = None) -> RecordMetadata:
        """The record's metadata (topic, partition, offset, timestamp...)."""
        if self.exception is not None:
            raise self.exception
        return self.value


@dataclass
class _Group:
    members: dict[int, frozenset[str]] = field(default_factory=dict)  # member -> topics
    generation: int = 0
    assignment: dict[int, frozenset[TopicPartition]] = field(default_factory=dict)
    committed: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)


class Bus:
    """Topics, partitions, logs and consumer groups, shared by producers and consumers.

    ``default_partitions``: partitions of a topic created implicitly (by a send or a
    subscribe); ``retention``: records kept per partition (the oldest are dropped);
    ``clock_ms``: the time stamped on records sent without ``timestamp_ms``.
    """

    def __init__(self, default_partitions: int = 6, retention: int = 200_000,
                 clock_ms: Callable[[], int] = _now_ms) -> None:
        if default_partitions < 1 or retention < 1:
            raise ValueError("partitions and retention must be at least 1")
        self.default_partitions = default_partitions
        self.retention = retention
        self.clock_ms = clock_ms
        self.cond = threading.Condition()
        self._logs: dict[str, list[_Log]] = {}
        self._groups: dict[str, _Group] = {}
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
            self._logs[name] = [_Log(self.retention) for _ in range(n)]
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
            record = ConsumerRecord(topic, partition, -1, log.end, ts, _CREATE_TIME, key, value,
                                    list(headers or []), None, sizes[0], sizes[1], -1)
            log.append(record)
            self.cond.notify_all()
        return record

    def log(self, tp: TopicPartition) -> _Log:
        """The log of a partition (caller holds ``cond``); KeyError/IndexError if absent."""
        return self._logs[tp.topic][tp.partition]

    # ----- groups --------------------------------------------------------------------
    def join(self, group_id: str, topics: Iterable[str]) -> int:
        """Add a member subscribed to ``topics``; returns its member id."""
        member = next(self._member_ids)
        with self.cond:
            group = self._groups.setdefault(group_id, _Group())
            group.members[member] = frozenset(topics)
            self._rebalance(group)
        return member

    def leave(self, group_id: str, member: int) -> None:
        """Remove a member; the others share its partitions."""
        with self.cond:
            group = self._groups.get(group_id)
            if group is not None and group.members.pop(member, None) is not None:
                self._rebalance(group)

    def group(self, group_id: str) -> _Group:
        """The state of a group (caller holds ``cond``)."""
        return self._groups.setdefault(group_id, _Group())

    def _rebalance(self, group: _Group) -> None:
        """Spread each topic's partitions round-robin over the members subscribed to it."""
        assignment: dict[int, set[TopicPartition]] = {m: set() for m in group.members}
        for topic in sorted(set().union(*group.members.values()) if group.members else ()):
            members = sorted(m for m, topics in group.members.items() if topic in topics)
            for p in range(len(self._logs.get(topic, []))):
                assignment[members[p % len(members)]].add(TopicPartition(topic, p))
        group.assignment = {m: frozenset(tps) for m, tps in assignment.items()}
        group.generation += 1
        self.cond.notify_all()


class BusProducer:
    """kafka-python ``KafkaProducer``'s ``send``/``flush``/``close`` over a :class:`Bus`.

    Sends complete synchronously: the returned future is already done.
    """

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._closed = False

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
             headers: Headers | None = None, partition: int | None = None,
             timestamp_ms: int | None = None) -> BusFuture:
        """Append a record; the future holds its ``RecordMetadata``."""
        if self._closed:
            raise IllegalStateError("producer is closed")
        r = self.bus.append(topic, value, key, headers, partition, timestamp_ms)
        metadata = RecordMetadata(topic, r.partition, TopicPartition(topic, r.partition),
                                  r.offset, r.timestamp, None, r.serialized_key_size,
                                  r.serialized_value_size, -1)
        return BusFuture().success(metadata)

    def partitions_for(self, topic: str) -> set[int]:
        """Partition numbers of a topic (created if missing, as with auto-creation)."""
        if self.bus.partitions_for_topic(topic) is None:
            self.bus.create_topic(topic)
        return self.bus.partitions_for_topic(topic) or set()

    def flush(self, timeout: float | None = None) -> None:
        """Nothing is buffered; returns at once."""

    def close(self, timeout: float | None = None) -> None:
        """Refuse further sends."""
        self._closed = True


class BusConsumer:
    """kafka-python ``KafkaConsumer``'s engine-facing API over a :class:`Bus`.

    ``configs``: ``bus`` (required), ``group_id`` (None: no group, no commits),
    ``auto_offset_reset`` ('earliest' | 'latest' | 'none'), ``enable_auto_commit`` (commit
    the positions reached at each poll), ``max_poll_records``. Other kafka-python configs
    are accepted and ignored, so the same dict can build either consumer. Like
    ``KafkaConsumer``, one instance belongs to one thread; only ``wakeup`` may be called
    from another.
    """

    def __init__(self, *topics: str, bus: Bus, group_id: str | None = None,
                 auto_offset_reset: str = "latest", enable_auto_commit: bool = True,
                 max_poll_records: int = 500, **_ignored: Any) -> None:
        if auto_offset_reset not in ("earliest", "latest", "none"):
            raise ValueError(f"auto_offset_reset must be earliest, latest or none, "
                             f"got {auto_offset_reset!r}")
        self.bus = bus
        self.group_id = group_id
        self.auto_offset_reset = auto_offset_reset
        self.enable_auto_commit = enable_auto_commit
        self.max_poll_records = max_poll_records
        self._member: int | None = None
        self._topics: frozenset[str] | None = None
        self._listener: Any = None
        self._generation = -1
        self._manual = False
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._next = 0  # round-robin start over assigned partitions
        self._woken = False
        self._closed = False
        if topics:
            self.subscribe(topics)

    # ----- assignment ----------------------------------------------------------------
    def subscribe(self, topics: Iterable[str] = (), pattern: str | None = None,
                  listener: Any = None) -> None:
        """Join the group for these topics; partitions are assigned at the next ``poll``.
        ``listener``: a kafka ``ConsumerRebalanceListener`` (revoked/assigned callbacks)."""
        if pattern is not None:
            raise NotImplementedError("the bus does not subscribe by pattern")
        if self._manual:
            raise IllegalStateError("subscribe() after assign(); call unsubscribe() first")
        self.unsubscribe()
        self._topics = frozenset(topics)
        self._listener = listener
        for topic in self._topics:
            if self.bus.partitions_for_topic(topic) is None:
                self.bus.create_topic(topic)
        if self.group_id is not None:
            self._member = self.bus.join(self.group_id, self._topics)

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Take exactly these partitions, outside any group rebalancing."""
        if self._topics is not None:
            raise IllegalStateError("assign() after subscribe(); call unsubscribe() first")
        self._manual = True
        tps = set(partitions)
        self._positions = {tp: p for tp, p in self._positions.items() if tp in tps}
        with self.bus.cond:
            for tp in tps - set(self._positions):
                self._positions[tp] = self._initial_position(tp)

    def unsubscribe(self) -> None:
        """Leave the group (or drop a manual assignment)."""
        if self._member is not None and self.group_id is not None:
            self.bus.leave(self.group_id, self._member)
        self._member, self._topics, self._manual = None, None, False
        self._positions, self._generation = {}, -1

    def assignment(self) -> set[TopicPartition]:
        """Partitions currently assigned to this consumer."""
        return set(self._positions)

    def subscription(self) -> set[str] | None:
        """Subscribed topics, None when not subscribed."""
        return None if self._topics is None else set(self._topics)

    def _sync_assignment(self) -> None:
        """Follow a group rebalance (eager: revoke all, then assign the new set)."""
        if self._topics is None:
            return
        with self.bus.cond:
            if self.group_id is None:
                new = frozenset(TopicPartition(t, p) for t in self._topics
                                for p in self.bus.partitions_for_topic(t) or ())
                if new == frozenset(self._positions):
                    return
                generation = self._generation + 1
            else:
                group = self.bus.group(self.group_id)
                if group.generation == self._generation:
                    return
                generation = group.generation
                new = group.assignment.get(self._member, frozenset())  # type: ignore[arg-type]
        old = set(self._positions)
        if self._listener is not None and self._generation >= 0:
            self._listener.on_partitions_revoked(old)
        with self.bus.cond:
            self._positions = {tp: self._initial_position(tp) for tp in new}
            self._paused &= set(new)
            self._generation = generation
        if self._listener is not None:
            self._listener.on_partitions_assigned(set(new))

    def _initial_position(self, tp: TopicPartition) -> int:
        """Committed offset, else the reset policy (caller holds ``cond``)."""
        if self.group_id is not None:
            committed = self.bus.group(self.group_id).committed.get(tp)
            if committed is not None:
                return committed.offset
        return self._reset(tp)

    def _reset(self, tp: TopicPartition) -> int:
        log = self.bus.log(tp)
        if self.auto_offset_reset == "none":
            raise NoOffsetForPartitionError(f"no valid offset for {tp}")
        return log.base if self.auto_offset_reset == "earliest" else log.end

    # ----- polling -------------------------------------------------------------------
    def poll(self, timeout_ms: int = 0, max_records: int | None = None,
             update_offsets: bool = True) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records from the assigned, unpaused partitions, up to ``max_records`` in all,
        waiting up to ``timeout_ms`` for some to arrive. ``{TopicPartition: [records]}``."""
        if self._closed:
            raise IllegalStateError("consumer is closed")
        limit = max_records or self.max_poll_records
        deadline = time.monotonic() + timeout_ms / 1000.0
        if self.enable_auto_commit and self.group_id is not None and self._positions:
            self.commit()
        while True:
            self._sync_assignment()
            with self.bus.cond:
                if self._topics is not None and self._stale():
                    continue
                out = self._fetch(limit, update_offsets)
                remaining = deadline - time.monotonic()
                if out or self._woken or remaining <= 0:
                    self._woken = False
                    return out
                self.bus.cond.wait(remaining)

    def _stale(self) -> bool:
        """Whether the group moved on since our last sync (caller holds ``cond``)."""
        if self.group_id is None:
            return False
        return self.bus.group(self.group_id).generation != self._generation

    def _fetch(self, limit: int, update_offsets: bool) -> dict[TopicPartition,
                                                               list[ConsumerRecord]]:
        """Read up to ``limit`` records, round-robin over partitions (caller holds ``cond``)."""
        tps = sorted(self._positions)
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        for i in range(len(tps)):
            tp = tps[(self._next + i) % len(tps)]
            if tp in self._paused or limit <= 0:
                continue
            log = self.bus.log(tp)
            position = self._positions[tp]
            if position < log.base or position > log.end:
                position = self._reset(tp)
            records = log.read(position, limit)
            self._positions[tp] = position + (len(records) if update_offsets else 0)
            if records:
                out[tp] = records
                limit -= len(records)
        self._next += 1
        return out

    def wakeup(self) -> None:
        """Make a blocked (or the next) ``poll`` return at once, possibly empty."""
        with self.bus.cond:
            self._woken = True
            self.bus.cond.notify_all()

    # ----- positions and commits -----------------------------------------------------
    def position(self, partition: TopicPartition) -> int:
        """Offset of the next record this consumer will read from ``partition``."""
        return self._assigned(partition)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Read ``partition`` from ``offset`` on the next poll."""
        self._assigned(partition)
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        self._positions[partition] = offset

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Read from the oldest retained record (all assigned partitions when none given)."""
        with self.bus.cond:
            for tp in partitions or tuple(self._positions):
                self._assigned(tp)
                self._positions[tp] = self.bus.log(tp).base

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Read only records appended from now on."""
        with self.bus.cond:
            for tp in partitions or tuple(self._positions):
                self._assigned(tp)
                self._positions[tp] = self.bus.log(tp).end

    def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata | int] | None = None,
               timeout_ms: int | None = None) -> None:
        """Commit ``offsets`` (the next offset to read, per partition) for the group; by
        default the current positions of all assigned partitions."""
        if self.group_id is None:
            raise IllegalStateError("commit requires a group_id")
        if offsets is None:
            offsets = dict(self._positions)
        with self.bus.cond:
            committed = self.bus.group(self.group_id).committed
            for tp, value in offsets.items():
                committed[tp] = (value if isinstance(value, OffsetAndMetadata)
                                 else OffsetAndMetadata(int(value), "", -1))

    def committed(self, partition: TopicPartition,
                  metadata: bool = False) -> int | OffsetAndMetadata | None:
        """The group's committed offset for ``partition`` (``OffsetAndMetadata`` if
        ``metadata``), None if never committed."""
        if self.group_id is None:
            raise IllegalStateError("committed requires a group_id")
        with self.bus.cond:
            found = self.bus.group(self.group_id).committed.get(partition)
        if found is None:
            return None
        return found if metadata else found.offset

    def offsets_for_times(self, timestamps: Mapping[TopicPartition, int],
                          timeout_ms: int | None = None
                          ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """Per partition, the earliest offset whose timestamp is >= the target (epoch ms),
        with that record's timestamp; None when no retained record is that late."""
        out: dict[TopicPartition, OffsetAndTimestamp | None] = {}
        with self.bus.cond:
            for tp, ts in timestamps.items():
                if ts < 0:
                    raise ValueError(f"the target time for {tp} cannot be negative: {ts}")
                out[tp] = self._log(tp).offset_for_time(int(ts))
        return out

    def beginning_offsets(self, partitions: Iterable[TopicPartition],
                          timeout_ms: int | None = None) -> dict[TopicPartition, int]:
        """Oldest retained offset of each partition."""
        with self.bus.cond:
            return {tp: self._log(tp).base for tp in partitions}

    def end_offsets(self, partitions: Iterable[TopicPartition],
                    timeout_ms: int | None = None) -> dict[TopicPartition, int]:
        """Offset the next appended record of each partition will get."""
        with self.bus.cond:
            return {tp: self._log(tp).end for tp in partitions}

    def topics(self) -> set[str]:
        """Names of all topics on the bus."""
        return self.bus.topics()

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        """Partition numbers of a topic, None if it does not exist."""
        return self.bus.partitions_for_topic(topic)

    # ----- flow control and shutdown -------------------------------------------------
    def pause(self, *partitions: TopicPartition) -> None:
        """Stop returning records from these partitions until ``resume``."""
        self._paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        """Return records from these partitions again."""
        self._paused.difference_update(partitions)

    def paused(self) -> set[TopicPartition]:
        """Partitions currently paused."""
        return set(self._paused)

    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None:
        """Commit (if auto-commit is on) and leave the group."""
        if self._closed:
            return
        if autocommit and self.enable_auto_commit and self.group_id is not None:
            self.commit()
        self.unsubscribe()
        self._closed = True

    def _assigned(self, tp: TopicPartition) -> int:
        if tp not in self._positions:
            raise IllegalStateError(f"{tp} is not assigned to this consumer")
        return self._positions[tp]

    def _log(self, tp: TopicPartition) -> _Log:
        try:
            return self.bus.log(tp)
        except (KeyError, IndexError):
            raise KafkaTimeoutError(f"{tp} does not exist") from None
