"""The output reader: every partition of the three output topics, the recent window for
conditions and forecasts, alerts from the beginning, topics created later; over the in-process
bus with the real engine, and over a real Kafka broker."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from live_harness import (
    TZ,
    LiveCity,
    alert_lifecycle,
    condition_records,
    live_settings,
    spot_records,
    wait_for,
)

from flowcast.config import Settings
from flowcast.ingest.simulator import generate_city
from flowcast.publish.spots.cap import alert_messages
from flowcast.serve.output_reader import OutputReader
from flowcast.serve.view import LiveView
from flowcast.transport.bus.broker import Bus
from flowcast.transport.kafka_client import make_consumer, make_producer
from flowcast.transport.sinks import BusSink
from flowcast.transport.topics import create_topics, topic_specs

T = int(dt.datetime(2026, 10, 2, 9, 0, tzinfo=TZ).timestamp() * 1000)


def _records(bus: Bus, topic: str) -> list[Any]:
    consumer = bus.consumer(topic, group_id=f"r-{uuid.uuid4()}", auto_offset_reset="earliest")
    out: list[Any] = []
    while polled := consumer.poll(timeout_ms=50, max_records=100_000):
        for records in polled.values():
            out += records
    return out


def test_reader_follows_the_engine_outputs_live() -> None:
    city = LiveCity(live_settings(recent_minutes=60)).start(hours=8)
    settings = city.settings
    view = LiveView(city.city, settings)
    reader = OutputReader(city.output_consumer(), view, settings,
                          clock_ms=city.clock.now_ms, poll_timeout_ms=50).start()
    try:
        conditions = _records(city.bus, settings.topics.road_conditions)
        since = city.clock.now_ms() - 60 * 60_000
        recent = [r for r in conditions if r.timestamp >= since]
        alerts = _records(city.bus, settings.topics.spot_alerts)
        assert alerts and len(recent) < len(conditions)
        wait_for(lambda: reader.records >= len(recent) + len(alerts), what="the recent records")
        assert reader.assigned == {(t, p) for t in (settings.topics.road_conditions,
                                                    settings.topics.spot_forecasts,
                                                    settings.topics.spot_alerts)
                                   for p in range(2)}
        # conditions: only the last hour was read; alerts: all of them, though older
        stats = view.stats()
        assert stats["applied"]["condition"] + stats["applied"].get("stale", 0) == len(recent)
        assert stats["applied"]["alert"] == len(alerts)
        newest = max(orjson.loads(r.value)["issued_at"] for r in conditions)
        assert {c["issued_at"] for c in view.conditions()} == {newest}
        active = {orjson.loads(r.value)["info"]["parameter"][0]["value"] for r in alerts}
        assert {a["spot"] for a in view.alerts()} == active
        # live: more time streamed through the engine reaches the view
        city.advance(minutes=10)
        later = max(orjson.loads(r.value)["issued_at"]
                    for r in _records(city.bus, settings.topics.road_conditions))
        assert later > newest
        wait_for(lambda: {c["issued_at"] for c in view.conditions()} == {later},
                 what="the newer conditions")
        assert view.stats()["rejected"] == {}
    finally:
        reader.stop()
        city.close()
    assert not reader.alive


def test_reader_waits_for_topics_created_later() -> None:
    city = generate_city(30, 3, seed=5)
    settings = live_settings()
    bus = Bus(default_partitions=3)
    view = LiveView(city, settings)
    reader = OutputReader(bus.consumer(), view, settings, clock_ms=lambda: T,
                          poll_timeout_ms=50, retry_s=0.05).start()
    try:
        assert not reader.assigned
        sink = BusSink(bus)
        for key, value in alert_messages(alert_lifecycle(city, "holiday-beach", T)[:1]):
            sink.send(settings.topics.spot_alerts, key, value, timestamp_ms=T - 86_400_000)
        wait_for(lambda: view.alerts(), what="the alert on the topic created later")
        assert {tp.topic for tp in reader.assigned} == {settings.topics.spot_alerts}
        for key, value in condition_records(city, settings, T, 44.0):
            sink.send(settings.topics.road_conditions, key, value, timestamp_ms=T)
        for key, value in spot_records(city, T, 0.5):
            sink.send(settings.topics.spot_forecasts, key, value, timestamp_ms=T)
        wait_for(lambda: len(view.conditions()) == city.n_segments and len(
            [s for s in view.spots() if s["forecast"]]) == city.n_spots,
            what="conditions and forecasts")
        assert len(reader.assigned) == 9
    finally:
        reader.stop()
    assert not reader.alive


def test_reader_over_a_real_kafka_broker(kafka_settings: Settings, kafka_admin: Any) -> None:
    data = kafka_settings.model_dump()
    data["http"]["recent_minutes"] = 30
    settings = Settings.model_validate(data)
    topics = settings.topics
    specs = topic_specs(topics, partitions=2)
    create_topics(kafka_admin, [s for s in specs if s.name in (topics.road_conditions,
                                                               topics.spot_alerts)])
    city = generate_city(30, 3, seed=5)
    producer = make_producer(settings.kafka)
    now = int(dt.datetime.now(tz=TZ).timestamp() * 1000) // 300_000 * 300_000
    old, recent = now - 3_600_000, now - 300_000
    for issued, speed in ((old, 10.0), (recent, 55.0)):
        for key, value in condition_records(city, settings, issued, speed):
            producer.send(settings.topics.road_conditions, value=value, key=key,
                          timestamp_ms=issued)
    for key, value in alert_messages(alert_lifecycle(city, "holiday-beach", old)[:1]):
        producer.send(settings.topics.spot_alerts, value=value, key=key, timestamp_ms=old)
    producer.flush()
    producer.close()
    view = LiveView(city, settings)
    consumer = make_consumer(settings.kafka, group_id=None)
    reader = OutputReader(consumer, view, settings, poll_timeout_ms=100, retry_s=0.2).start()
    try:
        wait_for(lambda: len(view.conditions()) == city.n_segments and view.alerts(),
                 timeout_s=30, what="conditions and the alert from Kafka")
        # the hour-old conditions are outside the 30 minute window: never read
        assert {c["issued_at"] for c in view.conditions()} == {recent}
        assert view.stats()["applied"].get("stale", 0) == 0
        assert view.alerts()[0]["spot"] == "holiday-beach"
        # the spot-forecasts topic does not exist yet: created later, it is picked up
        create_topics(kafka_admin, [s for s in specs if s.name == topics.spot_forecasts])
        producer = make_producer(settings.kafka)
        for key, value in spot_records(city, now, 0.4):
            producer.send(settings.topics.spot_forecasts, value=value, key=key,
                          timestamp_ms=now)
        producer.flush()
        producer.close()
        wait_for(lambda: all(s["forecast"] for s in view.spots()), timeout_s=30,
                 what="the spot forecasts on a topic created later")
    finally:
        reader.stop()
    assert not reader.alive
