"""Saturation alerts from the running engine: a Golden-Week morning raises an alert for the
spot that fills up, in CAP shape; a restarted engine replays its history and does not raise it
again; and one restarted with another forecaster reads the alerts topic back, so it neither
raises the alerts again nor forgets them: their Cancel references the original Alert."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import orjson
from engine_harness import engine_test_settings, quiet_simulator
from spot_harness import HORIZONS, constant_model

from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.engine.model_holder import ModelHolder
from flowcast.ingest.simulator import generate_city
from flowcast.ingest.stream import stream_simulation
from flowcast.models.spots.artifact import save_spot_model
from flowcast.publish.spots.cap_read import cap_problems
from flowcast.transport.bus.broker import Bus
from flowcast.transport.readback import bus_alerts_reader
from flowcast.transport.sinks import BusSink

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
    clock = EventClock(int((START + dt.timedelta(hours=HOURS)).timestamp() * 1000))

    def engine() -> Engine:
        consumer = bus.consumer(group_id="engine", enable_auto_commit=False,
                                auto_offset_reset="earliest")
        e = Engine(city, settings, consumer, [BusSink(bus)], clock=clock)
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


def test_a_restart_with_another_forecaster_reads_the_alerts_back(tmp_path: Path) -> None:
    """The first engine's model forecasts 90 % everywhere: every spot is alerted early in the
    morning. The restarted engine's model forecasts 10 %: its silent replay alone would have
    raised nothing (or later alerts of its own) and so never cancelled the published ones.
    Reading the alerts topic back, it sends no second Alert: each spot's episode goes on
    (Updates numbered after the published ones) until a Cancel that references the original
    Alert."""
    city = generate_city(4, 3, seed=5)
    settings = engine_test_settings(Settings())
    bus = Bus(default_partitions=2, retention=2_000_000)
    for topic in settings.topics.all_names():
        bus.create_topic(topic)
    for name, value in (("high", 0.9), ("low", 0.1)):
        save_spot_model(constant_model(value), tmp_path / name / "spots")
    clock = EventClock(0)
    simulator = quiet_simulator(city, START)

    def stream_until(hours: int) -> None:
        stream_simulation(simulator, BusSink(bus), START + dt.timedelta(hours=hours), 0.0,
                          "json", settings, progress=False)
        clock.ms = int((START + dt.timedelta(hours=hours)).timestamp() * 1000)

    def engine(model: str, **kwargs: Any) -> Engine:
        consumer = bus.consumer(group_id="engine", enable_auto_commit=False,
                                auto_offset_reset="earliest")
        holder = ModelHolder.spots(tmp_path / model / "spots", bucket_s=900, horizons=HORIZONS)
        e = Engine(city, settings, consumer, [BusSink(bus)], clock=clock, spot_models=holder,
                   **kwargs)
        e.subscribe()
        return e

    stream_until(4)
    first = engine("high")
    _drain(first)
    first.consumer.close()
    published = _alerts(bus, settings.topics.spot_alerts)
    originals = {_spot(a): a for a in published if a["msgType"] == "Alert"}
    assert set(originals) == set(city.spot_ids.tolist())
    assert [a["msgType"] for a in published].count("Alert") == len(originals)
    stream_until(14)  # to 20:00, after every spot has closed
    second = engine("low", alerts_reader=bus_alerts_reader(bus, settings.topics.spot_alerts))
    _drain(second)
    later = _alerts(bus, settings.topics.spot_alerts)[len(published):]
    for spot, original in originals.items():
        mine = [a for a in later if _spot(a) == spot]
        assert any(a["msgType"] == "Cancel" for a in mine), "the evening cancels every alert"
        episode = mine[:[a["msgType"] for a in mine].index("Cancel") + 1]
        # the published episode goes on: no second Alert, numbering continued, its Cancel
        # references the original Alert (a spot that fills up again later opens a new one)
        assert [a["msgType"] for a in episode[:-1]] == ["Update"] * (len(episode) - 1)
        reference = f"{original['sender']},{original['identifier']},{original['sent']}"
        prefix = original["identifier"].rsplit("-", 1)[0]
        last_seq = max(int(a["identifier"].rsplit("-", 1)[1]) for a in published
                       if _spot(a) == spot)
        for n, message in enumerate(episode, start=last_seq + 1):
            assert message["references"] == reference
            assert message["identifier"] == f"{prefix}-{n}"
            assert cap_problems(message) == []


def _spot(alert: dict[str, Any]) -> str:
    return next(p["value"] for p in alert["info"]["parameter"] if p["valueName"] == "spotId")
