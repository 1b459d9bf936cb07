"""Where records go: a Kafka producer, or the in-process bus, behind one small protocol.

Failures surface: a send that cannot even be queued raises at once; a send the broker
refuses later is remembered and :meth:`RecordSink.flush` raises :class:`SinkError` for it,
so a caller that flushes before committing offsets never commits past a lost record.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from flowcast.config import KafkaSettings
from flowcast.transport.bus.broker import Bus
from flowcast.transport.kafka_client import make_producer

Headers = list[tuple[str, bytes]]


class SinkError(RuntimeError):
    """Records were not delivered; the message says how many and the first cause."""


class SinkTimeout(SinkError):
    """A flush ran out of time: the records sent are still queued (none known lost), and a
    later flush may yet deliver them; send them again only after a :class:`SinkError`."""


@runtime_checkable
class RecordSink(Protocol):
    """Somewhere to send Kafka-shaped records."""

    def send(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None,
             timestamp_ms: int | None = None) -> None:
        """Queue one record (``timestamp_ms``: record time, epoch ms; None = now)."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Block until every queued record is acknowledged; raise :class:`SinkError` if any
        was refused since the last flush."""
        ...

    def close(self) -> None:
        """Flush and release the connection."""
        ...


class KafkaSink:
    """Records into Kafka through a kafka-python producer; build one with :meth:`connect`."""

    def __init__(self, producer: KafkaProducer) -> None:
        self.producer = producer
        self._lock = threading.Lock()
        self._failures: list[BaseException] = []

    @classmethod
    def connect(cls, kafka: str | KafkaSettings, *, timeout_s: float = 10.0,
                **producer_configs: Any) -> KafkaSink:
        """A sink tuned for throughput without giving up durability: the project producer
        (``acks=all``, idempotent, lz4/zstd when installed, see
        :func:`~flowcast.transport.kafka_client.make_producer`) with a 20 ms linger and 1 MiB
        batches. ``producer_configs`` override kafka-python settings. Raises
        :class:`~flowcast.transport.kafka_client.KafkaUnreachableError` when no broker answers.
        """
        configs = {"linger_ms": 20, "batch_size": 1 << 20} | producer_configs
        return cls(make_producer(kafka, timeout_s=timeout_s, **configs))

    def send(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None,
             timestamp_ms: int | None = None) -> None:
        """Queue one record; raises :class:`SinkError` if it cannot be queued."""
        try:
            future = self.producer.send(topic, value=value, key=key, headers=headers or None,
                                        timestamp_ms=timestamp_ms)
        except KafkaError as err:
            raise SinkError(f"cannot send to {topic}: {err}") from err
        future.add_errback(self._failed)

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            self._failures.append(error)

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every queued record; raise :class:`SinkTimeout` when ``timeout`` seconds
        pass first, :class:`SinkError` naming the failures when records were lost."""
        try:
            self.producer.flush(timeout=timeout)
        except KafkaTimeoutError as err:
            raise SinkTimeout(f"no acknowledgement within {timeout} s; records still queued"
                              ) from err
        except KafkaError as err:
            raise SinkError(f"flush did not complete: {err}") from err
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise SinkError(f"{len(failures)} record(s) were not delivered; first: "
                            f"{failures[0]!r}") from failures[0]

    def close(self) -> None:
        """Flush (raising on failures), then close the producer."""
        try:
            self.flush()
        finally:
            self.producer.close()


class BusSink:
    """Records into an in-process :class:`Bus` (sends complete immediately)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._closed = False

    def send(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None,
             timestamp_ms: int | None = None) -> None:
        """Append one record to the bus."""
        if self._closed:
            raise SinkError("the sink is closed")
        self.bus.append(topic, value, key, headers, None, timestamp_ms)

    def flush(self, timeout: float | None = None) -> None:
        """Nothing is ever pending."""

    def close(self) -> None:
        """Refuse further sends."""
        self._closed = True
