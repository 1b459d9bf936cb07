"""One partition of the in-process bus, and the key partitioner that picks it.

Keyed records go to ``murmur2(key) % partitions``, the Java and kafka-python default, so a key
lands on the same partition number here as on a broker. Offsets are per partition and survive
retention (a record count per partition); ``offset_for_time`` answers like the broker's time
index: the earliest offset whose running-maximum timestamp is >= the target.
"""

from __future__ import annotations

import bisect
from functools import lru_cache

from kafka.consumer.fetcher import ConsumerRecord
from kafka.partitioner.default import murmur2
from kafka.structs import OffsetAndTimestamp

Headers = list[tuple[str, bytes]]
CREATE_TIME = 0  # Kafka timestamp type: set by the producer


@lru_cache(maxsize=65536)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a non-null key."""
    return _key_hash(key) % partitions


class PartitionLog:
    """One partition: records with consecutive offsets from ``base``, trimmed from the front
    once more than ``retention`` records are held."""

    def __init__(self, retention: int) -> None:
        self.base = 0
        self.records: list[ConsumerRecord] = []
        self.max_ts: list[int] = []  # running maximum timestamp, for the time index
        self.retention = retention
        self.slack = max(16, retention // 8)  # trim in chunks: amortised O(1) per append

    @property
    def end(self) -> int:
        """The offset the next appended record gets."""
        return self.base + len(self.records)

    def append(self, record: ConsumerRecord) -> None:
        """Add ``record`` (its offset must be :attr:`end`) and apply retention."""
        self.records.append(record)
        self.max_ts.append(max(record.timestamp, self.max_ts[-1]) if self.max_ts
                           else record.timestamp)
        excess = len(self.records) - self.retention
        if excess >= self.slack:
            del self.records[:excess]
            del self.max_ts[:excess]
            self.base += excess

    def read(self, offset: int, limit: int) -> list[ConsumerRecord]:
        """Up to ``limit`` records from ``offset`` on (``base <= offset <= end``)."""
        start = offset - self.base
        return self.records[start:start + limit]

    def offset_for_time(self, ts: int) -> OffsetAndTimestamp | None:
        """The earliest offset whose running-maximum timestamp is >= ``ts`` (epoch ms), with
        that record's own timestamp; None when no retained record is that late."""
        i = bisect.bisect_left(self.max_ts, ts)
        if i == len(self.records):
            return None
        return OffsetAndTimestamp(self.base + i, self.records[i].timestamp, -1)
