"""The screen board, as the live view applies road conditions: each screen ranked once all its
segments reported, a stub before; a failing listener never stops the view."""

from __future__ import annotations

from typing import Any

from live_harness import MORNING_MS, apply_records, condition_records

from flowcast.city import City
from flowcast.config import Settings
from flowcast.serve.view import LiveView

T = MORNING_MS



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
