"""kafka-python ``KafkaProducer``'s sending API over the in-process :class:`Bus`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka.errors import IllegalStateError
from kafka.future import Future
from kafka.producer.future import RecordMetadata
from kafka.structs import TopicPartition

from flowcast.transport.bus.log import Headers

if TYPE_CHECKING:
    from flowcast.transport.bus.broker import Bus


class BusFuture(Future):
    """A completed send, like kafka-python's ``FutureRecordMetadata``."""

    def get(self, timeout: float | None = None) -> RecordMetadata:
        """The record's metadata (topic, partition, offset, timestamp...)."""
        if self.exception is not None:
            raise self.exception
        return self.value


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
