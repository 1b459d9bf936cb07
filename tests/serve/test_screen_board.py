"""The screen board, as the live view applies road conditions, spot forecasts and alerts: each
screen ranked once all its segments reported, a stub before; a failing listener never stops the
view; a screen whose destination spot is full says so, points where the bureau sends arrivals
instead, and is told again when a forecast or an alert changes that."""

from __future__ import annotations

import dataclasses
from typing import Any

from live_harness import MORNING_MS, alert_lifecycle, apply_records, condition_records, spot_records

from flowcast.city import City
from flowcast.config import Settings
from flowcast.publish.spots.cap import alert_messages
from flowcast.serve.view import LiveView

T = MORNING_MS
HOUR = 3_600_000
DEST = "wuzhizhou-island"


def _spots(view: LiveView, settings: Settings, issued_at: int,
           figures: dict[str, tuple[float, float]]) -> None:
    """Apply one spot forecast per spot: ``{spot: (saturation now, peak at +6 h)}``."""
    city = view.city
    for spot, (now, peak) in figures.items():
        records = [r for r in spot_records(city, issued_at, now, peak) if r[0] == spot.encode()]
        apply_records(view, settings.topics.spot_forecasts, records)


def _ranked(view: LiveView, settings: Settings) -> dict[str, Any]:
    apply_records(view, settings.topics.road_conditions,
                  condition_records(view.city, settings, T, 45.0))
    return view.screen(view.city.screens[0].id)


def test_screens_ranked_when_complete_and_listeners_isolated(view: LiveView, city: City,
                                                             settings: Settings) -> None:
    seen: list[str] = []

    def broken(kind: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    view.add_listener(broken)
    view.add_listener(lambda kind, payload: seen.append(kind))
    assert view.screen(city.screens[0].id)["issued_at"] is None  # a stub before any data
    assert view.screen("nope") is None
    apply_records(view, settings.topics.road_conditions, condition_records(city, settings, T, 45.0))
    screen = view.screen(city.screens[0].id)
    assert screen["issued_at"] == T and screen["routes"][0]["rank"] == 1
    assert seen.count("condition") == city.n_segments
    assert seen.count("screen") == len(city.screens)
    assert view.stats()["screens"] == len(city.screens)


def test_a_full_destination_says_so_and_points_elsewhere(view: LiveView, city: City,
                                                         settings: Settings) -> None:
    assert city.screens[0].destination == "Wuzhizhou Island"
    events: list[tuple[str, dict[str, Any]]] = []
    view.add_listener(lambda kind, payload: events.append((kind, payload)))
    before = _ranked(view, settings)
    assert before["destination_spot"]["state"] == "unknown"  # no forecast yet
    assert before["destination_spot"]["notice"] is None
    assert before["routes"][0]["advice"] == "take"
    # the other two spots have room; then the destination is over capacity now (the
    # forecast falls)
    _spots(view, settings, T, {"qilou-old-street": (0.5, 0.6), "holiday-beach": (0.2, 0.3),
                               DEST: (1.1, 0.9)})
    screen = view.screen(city.screens[0].id)
    spot = screen["destination_spot"]
    assert (spot["spot"], spot["state"], spot["limit_from"]) == (DEST, "full", T)
    assert spot["notice"] == "Wuzhizhou Island full, expect entry limits"
    assert spot["saturation_now"] == 1.1 and spot["saturation_peak"] == 1.1
    # no alert: the spots the alert writer would name, least full first
    assert [(a["spot"], a["saturation"], a["suggested_by"]) for a in spot["alternatives"]] == [
        ("holiday-beach", 0.3, "forecast"), ("qilou-old-street", 0.6, "forecast")]
    assert spot["instead"] == "Try Holiday Beach or Qilou Old Street instead"
    # no route is "take" to a full spot; what the roads alone say is kept
    assert {r["advice"] for r in screen["routes"]} <= {"full", "avoid", "unknown"}
    assert screen["routes"][0]["advice"] == "full"
    assert screen["routes"][0]["road_advice"] == "take"
    # the screen was told again, once, when the forecast made it full
    told = [p for k, p in events if k == "screen" and p["screen"] == screen["screen"]]
    assert [p["destination_spot"]["state"] for p in told] == ["unknown", "full"]
    assert told[-1] == screen
    # a forecast that changes nothing the screen says does not tell it again
    _spots(view, settings, T, {"qilou-old-street": (0.5, 0.6)})
    assert len([k for k, _ in events if k == "screen"]) == len(told)


def test_a_limit_later_is_said_with_its_time_and_keeps_the_road_advice(
        view: LiveView, city: City, settings: Settings) -> None:
    _ranked(view, settings)
    # 0.5 now rising to 1.2 at +6 h: at capacity from the +5 h forecast (1.06), 14:00 local
    _spots(view, settings, T, {DEST: (0.5, 1.2), "qilou-old-street": (0.3, 0.3),
                               "holiday-beach": (0.3, 0.3)})
    screen = view.screen(city.screens[0].id)
    spot = screen["destination_spot"]
    assert spot["state"] == "full" and spot["limit_from"] == T + 5 * HOUR
    assert spot["notice"] == "Wuzhizhou Island full from 14:00, expect entry limits"
    assert spot["peak_at"] == T + 6 * HOUR
    assert screen["routes"][0]["advice"] == "take"  # a driver arrives long before 14:00
    # nearly full (over the 80 % warning) but not at capacity: said, the advice stays
    _spots(view, settings, T + 900_000, {DEST: (0.85, 0.9)})
    spot = view.screen(city.screens[0].id)["destination_spot"]
    assert spot["state"] == "busy" and spot["limit_from"] == T + 900_000
    assert spot["notice"] == "Wuzhizhou Island nearly full, ticket sales may stop"
    assert view.screen(city.screens[0].id)["routes"][0]["advice"] == "take"
    _spots(view, settings, T + 1_800_000, {DEST: (0.3, 0.5)})
    spot = view.screen(city.screens[0].id)["destination_spot"]
    assert (spot["state"], spot["notice"], spot["alternatives"]) == ("ok", None, [])


def test_the_alternative_is_the_one_the_alert_names(view: LiveView, city: City,
                                                   settings: Settings) -> None:
    _ranked(view, settings)
    # the bureau's alert (critical, crossing hours ago) names the two spots with room
    messages = alert_lifecycle(city, DEST, T - 3 * HOUR)
    active = [m for m in messages if m.msg_type != "Cancel"]
    apply_records(view, settings.topics.spot_alerts, alert_messages(active))
    alert = view.alerts()[0]
    assert alert["level"] == "critical"
    assert "Qilou Old Street" in alert["instruction"] and "Holiday Beach" in alert["instruction"]
    assert alert["instruction"].index("Qilou") < alert["instruction"].index("Holiday")
    # the forecast now has the destination below capacity and Holiday Beach emptier: the
    # screen still agrees with the bureau, in the bureau's order
    _spots(view, settings, T, {DEST: (0.7, 0.7), "qilou-old-street": (0.4, 0.5),
                               "holiday-beach": (0.2, 0.2)})
    spot = view.screen(city.screens[0].id)["destination_spot"]
    assert spot["state"] == "full" and spot["limit_from"] == alert["onset_at"] < T
    assert spot["alert"] == {"identifier": alert["identifier"], "level": "critical",
                             "onset_at": alert["onset_at"]}
    assert spot["notice"] == "Wuzhizhou Island full, expect entry limits"
    assert [(a["spot"], a["suggested_by"]) for a in spot["alternatives"]] == [
        ("qilou-old-street", "alert"), ("holiday-beach", "alert")]
    assert spot["instead"] == "Try Qilou Old Street or Holiday Beach instead"
    # a spot the alert named that has filled since is dropped
    _spots(view, settings, T + 900_000, {"qilou-old-street": (0.8, 0.9)})
    spot = view.screen(city.screens[0].id)["destination_spot"]
    assert [a["spot"] for a in spot["alternatives"]] == ["holiday-beach"]
    # none left: nowhere to send arrivals, said so
    _spots(view, settings, T + 900_000, {"holiday-beach": (0.8, 0.9)})
    spot = view.screen(city.screens[0].id)["destination_spot"]
    assert spot["alternatives"] == [] and spot["instead"] == "No other spot has space"
    # the Cancel ends it: the forecast alone says the destination is fine
    apply_records(view, settings.topics.spot_alerts, alert_messages(messages[-1:]))
    spot = view.screen(city.screens[0].id)["destination_spot"]
    assert (spot["state"], spot["alert"], spot["notice"]) == ("ok", None, None)
    assert view.screen(city.screens[0].id)["routes"][0]["advice"] == "take"


def test_a_destination_that_is_no_spot_changes_nothing(city: City, settings: Settings) -> None:
    screen = dataclasses.replace(city.screens[0], destination="City Centre")
    elsewhere = dataclasses.replace(city, screens=(screen,))
    view = LiveView(elsewhere, settings)
    _spots(view, settings, T, {DEST: (1.2, 1.3)})
    ranked = _ranked(view, settings)
    assert ranked["destination_spot"] is None
    assert ranked["routes"][0]["advice"] == ranked["routes"][0]["road_advice"] == "take"
    # by id, in any case, it is the spot
    by_id = dataclasses.replace(screen, destination="WUZHIZHOU-island")
    view = LiveView(dataclasses.replace(city, screens=(by_id,)), settings)
    _spots(view, settings, T, {DEST: (1.2, 1.3)})
    assert _ranked(view, settings)["destination_spot"]["state"] == "full"
