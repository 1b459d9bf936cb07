"""The live view: the latest condition per segment, readiness, concurrent apply and read, and
records it must skip without raising. Spots, alerts and screens: test_spot_board.py,
test_alert_book.py, test_screen_board.py."""

from __future__ import annotations

import threading

import orjson
from live_harness import MORNING_MS, apply_records, condition_records, spot_records

from flowcast.city import City
from flowcast.config import Settings
from flowcast.serve.view import LiveView

T = MORNING_MS
FIVE_MIN = 300_000



def test_latest_condition_per_segment_and_ready(view: LiveView, city: City,
                                                settings: Settings) -> None:
    topic = settings.topics.road_conditions
    assert not view.ready.is_set()
    apply_records(view, topic, condition_records(city, settings, T + FIVE_MIN, 50.0))
    assert view.ready.is_set()
    # an older issue time arriving late never replaces the newer one
    apply_records(view, topic, condition_records(city, settings, T, 10.0))
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
    # the conditions topic carries segment conditions only: anything else there is refused
    assert view.apply(topics.road_conditions, b"VMS01", b'{"screen": "VMS01"}') is False
    assert view.stats()["rejected"]["malformed (KeyError)"] == 2
    assert "screen_echo" not in view.stats()["applied"]


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
        apply_records(view, settings.topics.road_conditions, batch)
    thread.join()
    assert errors == []
    assert {c["issued_at"] for c in view.conditions()} == {T + 19 * FIVE_MIN}


def test_a_spot_forecast_that_changes_a_screen_tells_it_after_the_forecast(
        view: LiveView, city: City, settings: Settings) -> None:
    apply_records(view, settings.topics.road_conditions, condition_records(city, settings, T, 45.0))
    events: list[tuple[str, str]] = []
    view.add_listener(lambda kind, payload: events.append(
        (kind, payload.get("spot") or payload.get("screen"))))
    screens = view.stats()["applied"]["screen"]
    full = [r for r in spot_records(city, T, 1.2) if r[0] == city.spot_ids[0].encode()]
    apply_records(view, settings.topics.spot_forecasts, full)
    assert events == [("spot", str(city.spot_ids[0])), ("screen", city.screens[0].id)]
    assert view.stats()["applied"]["screen"] == screens + 1
    assert view.screen(city.screens[0].id)["destination_spot"]["state"] == "full"
