"""kafka-python ``KafkaConsumer``'s engine-facing API over the in-process :class:`Bus`.

Semantics kept from Kafka: a group's members split the partitions of their topics and follow
eager rebalances (revoke all, then assign), calling a ``ConsumerRebalanceListener``; a consumer
starts from its group's committed offset, else the ``auto_offset_reset`` policy, and resets by
that policy when its position falls out of the retained log; ``offsets_for_times`` answers like
the broker's time index.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import IllegalStateError, KafkaTimeoutError, NoOffsetForPartitionError
from kafka.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

from flowcast.transport.bus.log import PartitionLog

if TYPE_CHECKING:
    from flowcast.transport.bus.broker import Bus


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

    def committed(self, partition: TopicPartition, metadata: bool = False,
                  timeout_ms: int | None = None) -> int | OffsetAndMetadata | None:
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

    def highwater(self, partition: TopicPartition) -> int | None:
        """The partition's high watermark (the offset its next record will get), as
        ``KafkaConsumer.highwater`` reports the last one fetched; the bus always knows it."""
        self._assigned(partition)
        with self.bus.cond:
            return self._log(partition).end

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

    def _log(self, tp: TopicPartition) -> PartitionLog:
        try:
            return self.bus.log(tp)
        except (KeyError, IndexError):
            raise KafkaTimeoutError(f"{tp} does not exist") from None
