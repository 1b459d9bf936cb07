"""Saturation alerts from the running engine: a Golden-Week morning raises an alert for the
spot that fills up, in CAP shape; a restarted engine replays its history and does not raise it
again."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from engine_harness import SetClock, engine_test_settings, quiet_simulator

from flowcast.config import Settings
from flowcast.engine import Engine
from flowcast.ingest.bus import Bus
from flowcast.ingest.simulator import generate_city
from flowcast.ingest.sinks import BusSink
from flowcast.ingest.stream import stream_simulation
from flowcast.publish.cap import cap_problems

TZ = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 10, 2, 6, 0, tzinfo=TZ)  # National Day Golden Week
HOURS = 8


def _alerts(bus: Bus, topic: str) -> list[dict[str, Any]]:
    consumer = bus.consumer(topic, group_id=f"r-{uuid.uuid4()}", auto_offset_reset="earliest")
    out: list[dict[str, Any]] = []
    while polled := consumer.poll(timeout_ms=50, max_records=100_000):
        for records in polled.values():
            out += [orjson.loads(r.value) for r in records]
    return out


def _drain(engine: Engine) -> None:
    quiet = 0
    while quiet < 3:
        quiet = quiet + 1 if engine.step().records == 0 else 0


def test_golden_week_raises_a_cap_alert_once_across_a_restart() -> None:
    city = generate_city(30, 3, seed=5)
    settings = engine_test_settings(Settings())
    bus = Bus(default_partitions=2, retention=2_000_000)
    for topic in settings.topics.all_names():
        bus.create_topic(topic)
    stream_simulation(quiet_simulator(city, START), BusSink(bus),
                      START + dt.timedelta(hours=HOURS), 0.0, "json", settings, progress=False)
    clock = SetClock(int((START + dt.timedelta(hours=HOURS)).timestamp() * 1000))

    def engine() -> Engine:
        consumer = bus.consumer(group_id="engine", enable_auto_commit=False,
                                auto_offset_reset="earliest")
        e = Engine(city, settings, consumer, BusSink(bus), clock=clock)
        e.subscribe()
        return e

    first = engine()
    _drain(first)
    alerts = _alerts(bus, settings.topics.spot_alerts)
    raised = [a for a in alerts if a["msgType"] == "Alert"]
    assert raised, "a Golden-Week morning should fill at least one spot past 80 %"
    for alert in alerts:
        assert cap_problems(alert) == []
    spot = raised[0]["info"]["parameter"]  # CAP: name/value pairs
    assert {p["valueName"] for p in spot} >= {"spotId"}
    first.consumer.close()
    # a new process of the group: replays the history silently, publishes nothing again
    second = engine()
    _drain(second)
    assert len(_alerts(bus, settings.topics.spot_alerts)) == len(alerts)
