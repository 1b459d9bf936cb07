"""Reading the alerts topic back: the newest value of each spot asked for, over the in-process
bus and over a real Kafka broker; other spots, later records and deleted keys are left out."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaProducer

from flowcast.config import Settings
from flowcast.transport.bus.broker import Bus
from flowcast.transport.readback import bus_alerts_reader, kafka_alerts_reader
from flowcast.transport.topics import create_topics, topic_specs

RECORDS = [(b"a", b"a0"), (b"b", b"b0"), (b"a", b"a1"), (b"c", b"c0"), (b"b", None),
           (b"c", b"c1"), (b"a", b"a2")]


def test_bus_reader_gives_the_newest_value_per_spot() -> None:
    bus = Bus(default_partitions=3)
    bus.create_topic("alerts")
    producer = bus.producer()
    for key, value in RECORDS:
        producer.send("alerts", value=value, key=key)
    read = bus_alerts_reader(bus, "alerts")
    assert sorted(read(["a", "b", "c"])) == [b"a2", b"c1"]  # b's tombstone deletes it
    assert read(["c", "zzz"]) == [b"c1"]
    assert read([]) == []
    bus.create_topic("empty")
    assert bus_alerts_reader(bus, "empty")(["a"]) == []


def test_kafka_reader_gives_the_newest_value_per_spot(kafka_settings: Settings,
                                                     kafka_admin: KafkaAdminClient) -> None:
    topics = kafka_settings.topics
    create_topics(kafka_admin, topic_specs(topics, partitions=3))
    producer = KafkaProducer(bootstrap_servers=kafka_settings.kafka.bootstrap)
    for key, value in RECORDS:
        producer.send(topics.spot_alerts, value=value, key=key)
    producer.flush()
    producer.close()
    read = kafka_alerts_reader(kafka_settings.kafka, topics.spot_alerts)
    assert sorted(read(["a", "b", "c"])) == [b"a2", b"c1"]
    assert read(["b"]) == []
