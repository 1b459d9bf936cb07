"""Record sinks: the bus sink, and the Kafka sink's configuration and failure reporting."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.future import Future
from kafka.structs import TopicPartition
from kafka_fixture import KafkaNames

from flowcast.transport import sinks
from flowcast.transport.bus.broker import Bus
from flowcast.transport.kafka_client import make_consumer
from flowcast.transport.sinks import BusSink, KafkaSink, RecordSink, SinkError


class FakeProducer:
    """Stands in for KafkaProducer: records sends, fails the ones it is told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, Any, int | None]] = []
        self.pending: list[tuple[Future, BaseException | None]] = []
        self.fail_next: BaseException | None = None
        self.refuse_next: BaseException | None = None
        self.closed = False

    def send(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None,
             timestamp_ms: int | None = None) -> Future:
        if self.refuse_next is not None:
            raise self.refuse_next
        self.sent.append((topic, key, value, headers, timestamp_ms))
        future = Future()
        self.pending.append((future, self.fail_next))
        self.fail_next = None
        return future

    def flush(self, timeout: float | None = None) -> None:
        for future, error in self.pending:
            future.failure(error) if error is not None else future.success(None)
        self.pending = []

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def test_bus_sink_appends_with_timestamps_and_headers() -> None:
    bus = Bus(default_partitions=2)
    sink = BusSink(bus)
    assert isinstance(sink, RecordSink)
    sink.send("t", b"R0001", b"v", [("content-type", b"x")], timestamp_ms=123)
    sink.flush()
    consumer = bus.consumer("t", group_id="g", auto_offset_reset="earliest")
    (record,) = [r for rs in consumer.poll().values() for r in rs]
    assert (record.key, record.value, record.timestamp) == (b"R0001", b"v", 123)
    assert record.headers == [("content-type", b"x")]
    sink.close()


def test_kafka_sink_connect_tunes_the_project_producer(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    made: dict[str, Any] = {}

    def make_producer(kafka: str, *, timeout_s: float, **configs: Any) -> FakeProducer:
        made.update(configs, kafka=kafka, timeout_s=timeout_s)
        return FakeProducer()

    monkeypatch.setattr(sinks, "make_producer", make_producer)
    sink = KafkaSink.connect("broker:9092", client_id="sim", linger_ms=5)
    assert isinstance(sink, RecordSink) and isinstance(sink.producer, FakeProducer)
    assert made["kafka"] == "broker:9092" and made["client_id"] == "sim"
    assert made["linger_ms"] == 5 and made["batch_size"] >= 1 << 20


def test_kafka_sink_raises_delivery_failures_on_flush() -> None:
    producer = FakeProducer()
    sink = KafkaSink(producer)  # type: ignore[arg-type]
    sink.send("t", b"k", b"ok", None, 1)
    producer.fail_next = MessageSizeTooLargeError("too big")
    sink.send("t", b"k", b"big", None, 2)
    sink.send("t", b"k", b"ok again", [("h", b"v")], 3)
    with pytest.raises(SinkError, match=r"1 record.*too big"):
        sink.flush()
    assert [s[2] for s in producer.sent] == [b"ok", b"big", b"ok again"]
    assert producer.sent[2][3] == [("h", b"v")] and producer.sent[2][4] == 3
    sink.flush()  # failures are reported once
    sink.close()
    assert producer.closed


def test_kafka_sink_raises_when_a_send_cannot_be_queued() -> None:
    producer = FakeProducer()
    producer.refuse_next = KafkaTimeoutError("buffer full")
    with pytest.raises(SinkError, match="buffer full"):
        KafkaSink(producer).send("t", None, b"v")  # type: ignore[arg-type]


@pytest.mark.kafka
def test_kafka_sink_delivers_and_reports_broker_refusals(
        kafka_bootstrap: str, kafka_admin: KafkaAdminClient, kafka_names: KafkaNames) -> None:
    topic = kafka_names.topic("sink")
    kafka_admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    sink = KafkaSink.connect(kafka_bootstrap, max_request_size=8 << 20)
    sink.send(topic, b"k", b"hello", [("h", b"1")], timestamp_ms=1_764_000_000_000)
    sink.flush(timeout=30)
    consumer = make_consumer(kafka_bootstrap)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    records: list[Any] = []
    deadline = time.monotonic() + 30
    while not records and time.monotonic() < deadline:
        records = [r for rs in consumer.poll(timeout_ms=1_000).values() for r in rs]
    consumer.close()
    assert [(r.key, r.value, r.timestamp) for r in records] == [
        (b"k", b"hello", 1_764_000_000_000)]
    assert records[0].headers == [("h", b"1")]
    sink.send(topic, b"k", os.urandom(3 << 20))  # incompressible, over the 1 MB message limit
    with pytest.raises(SinkError):
        sink.flush(timeout=30)
    sink.close()
