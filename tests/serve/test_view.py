"""The live view: latest conditions and forecasts, today's spot curve, the alert lifecycle with
acknowledgements, screen rankings, listeners, and records it must skip without raising."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import orjson
import pytest
from live_harness import (
    TZ,
    alert_lifecycle,
    condition_records,
    live_settings,
    spot_records,
)

from flowcast.city import City
from flowcast.config import Settings
from flowcast.ingest.simulator import generate_city
from flowcast.publish.spots.cap import alert_messages
from flowcast.serve.view import LiveView

T = int(dt.datetime(2026, 10, 2, 9, 0, tzinfo=TZ).timestamp() * 1000)
FIVE_MIN = 300_000


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(30, 3, seed=5)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return live_settings()


@pytest.fixture
def view(city: City, settings: Settings) -> LiveView:
    return LiveView(city, settings)


def _apply(view: LiveView, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    for key, value in records:
        view.apply(topic, key, value)


def test_latest_condition_per_segment_and_ready(view: LiveView, city: City,
                                                settings: Settings) -> None:
    topic = settings.topics.road_conditions
    assert not view.ready.is_set()
    _apply(view, topic, condition_records(city, settings, T + FIVE_MIN, 50.0))
    assert view.ready.is_set()
    # an older issue time arriving late never replaces the newer one
    _apply(view, topic, condition_records(city, settings, T, 10.0))
    conditions = view.conditions()
    assert [c["segment"] for c in conditions] == city.segment_ids.tolist()
    assert {c["issued_at"] for c in conditions} == {T + FIVE_MIN}
    assert {c["now"]["speed"] for c in conditions} == {50.0}
    assert view.stats()["applied"]["stale"] == city.n_segments
    first = city.segment_ids[0]
    assert view.condition(first) == orjson.loads(
        condition_records(city, settings, T + FIVE_MIN, 50.0, [first])[0][1])
    assert view.condition("nope") is None


def test_garbled_and_unknown_records_are_counted_not_raised(view: LiveView, city: City,
                                                            settings: Settings) -> None:
    topics = settings.topics
    assert view.apply(topics.road_conditions, b"G0001", b"\x00not json") is False
    assert view.apply(topics.road_conditions, b"G0001", b"[1, 2]") is False
    assert view.apply(topics.road_conditions, b"G0001", b'{"segment": "G0001"}') is False
    assert view.apply(topics.road_conditions, None, None) is False
    unknown = orjson.loads(condition_records(city, settings, T, 40.0)[0][1])
    unknown["segment"] = "NOT-IN-CITY"
    assert view.apply(topics.road_conditions, b"x", orjson.dumps(unknown)) is False
    assert view.apply("some.other.topic", b"k", b"{}") is False
    assert view.apply(topics.spot_alerts, b"s", b'{"identifier": "x"}') is False
    assert view.apply(topics.spot_forecasts, b"s", b'{"spot": 3}') is False
    rejected = view.stats()["rejected"]
    assert rejected["undecodable"] == 1 and rejected["not_an_object"] == 2
    assert rejected["unknown_segment"] == 1 and rejected["unknown_topic"] == 1
    assert sum(rejected.values()) == 8
    assert view.conditions() == [] and not view.ready.is_set()
    # a screen message read back from the conditions topic is skipped, not an error
    assert view.apply(topics.road_conditions, b"VMS01", b'{"screen": "VMS01"}') is False
    assert view.stats()["applied"]["screen_echo"] == 1


def test_spot_forecast_and_todays_curve(view: LiveView, city: City,
                                        settings: Settings) -> None:
    topic = settings.topics.spot_forecasts
    spot = str(city.spot_ids[0])
    for n in range(4):
        _apply(view, topic, spot_records(city, T + n * 900_000, 0.5 + 0.05 * n, 0.95))
    _apply(view, topic, spot_records(city, T + 3 * 900_000, 0.7, 0.95))  # a repeat replaces
    entry = view.spot(spot)
    assert entry is not None and entry["forecast"]["issued_at"] == T + 3 * 900_000
    assert entry["saturation_now"] == 0.7 and entry["saturation_peak"] == 0.95
    assert [p["issued_at"] for p in entry["curve"]] == [T + n * 900_000 for n in range(4)]
    assert [p["saturation"] for p in entry["curve"]] == [0.5, 0.55, 0.6, 0.7]
    assert entry["curve"][0]["forecast_valid_at"] == T + 3_600_000
    # the next local day starts a new curve
    tomorrow = T + 86_400_000
    _apply(view, topic, spot_records(city, tomorrow, 0.2))
    assert [p["issued_at"] for p in view.spot(spot)["curve"]] == [tomorrow]
    assert view.spot("nowhere") is None
    assert [s["spot"] for s in view.spots()] == city.spot_ids.tolist()


def test_alert_lifecycle_history_acks_and_cancel(view: LiveView, city: City,
                                                 settings: Settings) -> None:
    spot = "holiday-beach"
    messages = alert_lifecycle(city, spot, T)
    assert messages[0].msg_type == "Alert"
    assert messages[-1].msg_type == "Cancel"
    events: list[tuple[str, dict[str, Any]]] = []
    view.add_listener(lambda kind, payload: events.append((kind, payload)))
    records = alert_messages(messages)
    _apply(view, settings.topics.spot_alerts, records[:-1])  # Alert and Updates
    [active] = view.alerts()
    root = messages[0].identifier
    assert active["identifier"] == root and active["status"] == "active"
    assert [h["msgType"] for h in active["history"]] == [m.msg_type for m in messages[:-1]]
    assert active["messages"] == [m.to_dict() for m in messages[:-1]]
    assert active["latest"] == messages[-2].identifier and not active["acknowledged"]
    assert view.spot(spot)["alert"]["identifier"] == root
    # a duplicate (at-least-once delivery) changes nothing
    _apply(view, settings.topics.spot_alerts, records[:1])
    assert len(view.alerts()[0]["history"]) == len(messages) - 1
    # acknowledging the latest message; unknown identifiers raise KeyError
    ack = view.acknowledge(messages[-2].identifier, "duty officer", "gates told")
    assert (ack["alert"], ack["by"], ack["note"], ack["spot"]) == (
        root, "duty officer", "gates told", spot)
    assert view.alerts()[0]["acknowledged"] is True
    with pytest.raises(KeyError):
        view.acknowledge("flowcast-nope-1-0", "x")
    # the Cancel closes the episode; it stays listed among the recently cancelled
    _apply(view, settings.topics.spot_alerts, records[-1:])
    assert view.alerts() == []
    [closed] = view.alerts(include_cancelled=True)
    assert closed["status"] == "cancelled" and closed["msgType"] == "Cancel"
    assert closed["acks"] == [ack]
    assert view.alert(messages[-1].identifier)["identifier"] == root
    kinds = [k for k, _ in events]
    assert kinds == ["alert"] * (len(messages) - 1) + ["ack", "alert"]
    assert events[-1][1]["message"] == messages[-1].to_dict()


def test_an_update_without_its_alert_still_opens_the_episode(view: LiveView, city: City,
                                                             settings: Settings) -> None:
    """On a compacted topic the Alert may be gone: the latest Update is enough."""
    messages = alert_lifecycle(city, "qilou-old-street", T)
    update = next(m for m in messages if m.msg_type == "Update")
    view.apply(settings.topics.spot_alerts, update.key(), update.value())
    [active] = view.alerts()
    assert active["identifier"] == messages[0].identifier
    assert active["latest"] == update.identifier
    view.acknowledge(messages[0].identifier, "desk")  # by the episode's first identifier
    assert view.alerts()[0]["acks"][0]["message"] == update.identifier


def test_cancelled_alerts_expire(city: City, settings: Settings) -> None:
    view = LiveView(city, settings, cancelled_keep_s=0.0)
    _apply(view, settings.topics.spot_alerts,
           alert_messages(alert_lifecycle(city, "holiday-beach", T)))
    assert view.alerts(include_cancelled=True) == []


def test_screens_ranked_when_complete_and_listeners_isolated(view: LiveView, city: City,
                                                             settings: Settings) -> None:
    seen: list[str] = []

    def broken(kind: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    view.add_listener(broken)
    view.add_listener(lambda kind, payload: seen.append(kind))
    assert view.screen(city.screens[0].id)["issued_at"] is None  # a stub before any data
    assert view.screen("nope") is None
    _apply(view, settings.topics.road_conditions, condition_records(city, settings, T, 45.0))
    screen = view.screen(city.screens[0].id)
    assert screen["issued_at"] == T and screen["routes"][0]["rank"] == 1
    assert seen.count("condition") == city.n_segments
    assert seen.count("screen") == len(city.screens)
    assert view.stats()["screens"] == len(city.screens)


def test_concurrent_apply_and_read(view: LiveView, city: City, settings: Settings) -> None:
    records = [condition_records(city, settings, T + n * FIVE_MIN, 30.0 + n) for n in range(20)]
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(200):
                view.conditions()
                view.screens()
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    thread = threading.Thread(target=reader)
    thread.start()
    for batch in records:
        _apply(view, settings.topics.road_conditions, batch)
    thread.join()
    assert errors == []
    assert {c["issued_at"] for c in view.conditions()} == {T + 19 * FIVE_MIN}
