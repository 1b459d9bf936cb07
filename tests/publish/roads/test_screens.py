"""Guidance-screen route ranking: travel times summed over a route's segments, the level rule,
ranking and advice (avoid only when the difference matters, by configuration), names a driver
can tell apart, and a screen ranked only once all its segments reported for an issue time."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from live_harness import condition_records, live_settings

from flowcast.city import City
from flowcast.config import LevelSettings, Settings, load_settings
from flowcast.ingest.simulator import generate_city
from flowcast.publish.roads.screens import (
    ScreenRanker,
    distinct_names,
    rank_routes,
    road_name,
    route_level,
    route_plans,
    route_trend,
)

T = 1_790_900_100_000


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(120, 3, seed=5)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return live_settings()


def _messages(records: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    return [orjson.loads(v) for _, v in records]


def test_route_level_is_length_weighted_but_never_hides_a_jam() -> None:
    assert route_level([1, 1, 1], [100, 100, 100]) == 1
    assert route_level([2, 4], [100, 100]) == 3  # mean 3.0
    assert route_level([1, 3], [300, 100]) == 2  # mean 1.5 rounds half up
    # a short severe segment on a long smooth route: the mean says 1, the floor says 4
    assert route_level([1, 5, 1], [1000, 50, 1000]) == 4
    assert route_level([1, None], [10, 10]) is None
    assert route_level([], []) is None


def test_route_trend_compares_ahead_with_now() -> None:
    assert route_trend(100.0, 115.0) == "worsening"
    assert route_trend(100.0, 85.0) == "improving"
    assert route_trend(100.0, 105.0) == "steady"
    assert route_trend(None, 100.0) is None


def test_routes_collapse_repeated_segments(city: City) -> None:
    for screen in city.screens:
        for plan, route in zip(route_plans(city, screen), screen.routes, strict=True):
            ids = [str(city.segment_ids[g]) for g in route.segments.tolist()]
            assert all(a != b for a, b in zip(plan.segments, plan.segments[1:], strict=False))
            assert [s for i, s in enumerate(ids) if i == 0 or s != ids[i - 1]] == list(
                plan.segments)
            assert plan.lengths_m == tuple(
                float(city.segment_length_m[city.segment_index([s])[0]]) for s in plan.segments)


def test_screen_ranks_by_forecast_time_and_advises(city: City, settings: Settings) -> None:
    screen = city.screens[0]
    plans = route_plans(city, screen)
    slow_route, fast_route = plans[0], plans[1]
    shared = set(slow_route.segments) & set(fast_route.segments)
    # free-flowing everywhere, but the first route's own segments jammed at 8 km/h
    jammed = [s for s in slow_route.segments if s not in shared]
    assert jammed, "the first two routes should differ"
    records = condition_records(city, settings, T, 60.0)
    records += condition_records(city, settings, T, 8.0, segments=jammed)  # newer value wins
    ranker = ScreenRanker(city)
    out: list[dict[str, Any]] = []
    by_segment = {m["segment"]: m for m in _messages(records)}
    for m in by_segment.values():
        out += ranker.add(m)
    assert [m["screen"] for m in out] == [s.id for s in city.screens]
    message = out[0]
    assert message["issued_at"] == T and message["destination"] == screen.destination
    routes = {r["route"]: r for r in message["routes"]}
    # travel time = the sum of the segments' travel times, now and at every horizon
    for plan in plans:
        expected = sum(by_segment[s]["now"]["travel_time_s"] for s in plan.segments)
        route = routes[plan.id]
        assert route["now"]["travel_time_s"] == pytest.approx(expected, abs=0.2)
        for k, item in enumerate(route["forecast"]):
            total = sum(by_segment[s]["forecast"][k]["travel_time_s"] for s in plan.segments)
            assert item["travel_time_s"] == pytest.approx(total, abs=0.2)
            assert item["horizon_min"] == [15, 30, 45, 60][k]
    ranked = message["routes"]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    times = [r["forecast"][0]["travel_time_s"] for r in ranked]
    assert times == sorted(times)
    assert ranked[0]["advice"] == "take"
    assert routes[slow_route.id]["advice"] == "avoid"
    assert routes[slow_route.id]["now"]["level"] >= 4


def test_screen_waits_for_every_segment_of_an_issue_time(city: City,
                                                         settings: Settings) -> None:
    screen = city.screens[0]
    needed = sorted({s for p in route_plans(city, screen) for s in p.segments})
    ranker = ScreenRanker(city)
    first = _messages(condition_records(city, settings, T, 50.0, segments=needed))
    later = _messages(condition_records(city, settings, T + 300_000, 50.0, segments=needed))
    # interleaved like two partitions: everything of T but one segment, then T+5min fully
    out = [m for c in first[:-1] for m in ranker.add(c)]
    assert out == []
    out = [m for c in later for m in ranker.add(c) if m["screen"] == screen.id]
    assert [m["issued_at"] for m in out] == [T + 300_000]
    # the late segment of T completes T, which is older: a screen is never ranked backwards
    assert [m for m in ranker.add(first[-1]) if m["screen"] == screen.id] == []
    # a repeat of a ranked issue time ranks nothing again
    assert [m for c in later for m in ranker.add(c) if m["screen"] == screen.id] == []


def test_pending_issue_times_are_bounded(city: City, settings: Settings) -> None:
    ranker = ScreenRanker(city, keep_issues=3)
    one = sorted({s for p in route_plans(city, city.screens[0]) for s in p.segments})[:1]
    for n in range(10):
        for m in _messages(condition_records(city, settings, T + n * 300_000, 50.0, one)):
            assert ranker.add(m) == []
    assert ranker.dropped_issues == 7


def test_unknown_times_rank_last_with_unknown_advice() -> None:
    entries = [{"route": "A", "now": {"travel_time_s": None, "level": None},
                "forecast": [{"horizon_min": 15, "travel_time_s": None, "level": None}]},
               {"route": "B", "now": {"travel_time_s": 300.0, "level": 2},
                "forecast": [{"horizon_min": 15, "travel_time_s": 320.0, "level": 2}]},
               {"route": "C", "now": {"travel_time_s": 330.0, "level": 2},
                "forecast": [{"horizon_min": 15, "travel_time_s": 330.0, "level": 2}]}]
    ranked = rank_routes(entries)
    assert [(r["route"], r["advice"]) for r in ranked] == [
        ("B", "take"), ("C", "alternative"), ("A", "unknown")]



def _entry(route: str, minutes: float, level: int, ahead_level: int | None = None
           ) -> dict[str, Any]:
    """A route entry as ranking sees it: ``minutes`` now and at +15, ``level`` now."""
    return {"route": route, "now": {"travel_time_s": minutes * 60, "level": level},
            "forecast": [{"horizon_min": 15, "travel_time_s": minutes * 60,
                          "level": level if ahead_level is None else ahead_level}]}


def _advice(entries: list[dict[str, Any]], levels: LevelSettings | None = None
            ) -> dict[str, str]:
    return {r["route"]: r["advice"] for r in rank_routes(entries, levels)}


def test_avoid_only_when_the_difference_matters() -> None:
    # all green: 2 minutes slower (50 %) is no reason to avoid; 6 minutes slower is
    assert _advice([_entry("A", 4, 1), _entry("B", 6, 1), _entry("C", 10, 1)]) == {
        "A": "take", "B": "alternative", "C": "avoid"}
    # many minutes slower but under 25 %: not avoided either
    assert _advice([_entry("A", 40, 2), _entry("B", 48, 2)]) == {"A": "take",
                                                                 "B": "alternative"}
    # congestion counts when it is worse than the best route's: the same level 4 everywhere
    # is no reason to avoid the second road, a severe jam (even ahead) is
    assert _advice([_entry("A", 10, 4), _entry("B", 10.5, 4), _entry("C", 11, 4, 5)]) == {
        "A": "take", "B": "alternative", "C": "avoid"}
    assert _advice([_entry("A", 10, 1), _entry("B", 10.5, 4)])["B"] == "avoid"
    assert _advice([_entry("A", 10, 1), _entry("B", 10.5, 3)])["B"] == "alternative"


def test_avoid_thresholds_are_configuration() -> None:
    entries = [_entry("A", 4, 1), _entry("B", 6, 1), _entry("C", 10, 2), _entry("D", 10.2, 4)]
    assert _advice(entries) == {"A": "take", "B": "alternative", "C": "avoid", "D": "avoid"}
    strict = LevelSettings(avoid_minutes=1)
    assert _advice(entries, strict)["B"] == "avoid"
    lenient = LevelSettings(avoid_minutes=10, avoid_level=5)
    assert _advice(entries, lenient) == {"A": "take", "B": "alternative", "C": "alternative",
                                         "D": "alternative"}
    assert _advice([_entry("A", 10, 2), _entry("B", 10.5, 4)],
                   LevelSettings(avoid_levels=3))["B"] == "alternative"
    env = load_settings(environ={"FLOWCAST_LEVELS_AVOID_MINUTES": "5",
                                 "FLOWCAST_LEVELS_AVOID_LEVELS": "2"})
    assert (env.levels.avoid_minutes, env.levels.avoid_levels) == (5.0, 2)


def test_the_ranker_uses_the_configured_advice(city: City, settings: Settings) -> None:
    screen = city.screens[0]
    needed = sorted({s for p in route_plans(city, screen) for s in p.segments})
    conditions = _messages(condition_records(city, settings, T, 50.0, segments=needed))
    advice = []
    for levels in (LevelSettings(avoid_minutes=0, avoid_slower=1.0001), LevelSettings()):
        ranker = ScreenRanker(city, levels=levels)
        [message] = [m for c in conditions for m in ranker.add(c) if m["screen"] == screen.id]
        advice.append({r["route"]: r["advice"] for r in message["routes"]})
    slower = {r for r, a in advice[0].items() if a == "avoid"}
    assert slower, "the routes differ in length, so some are slower than the best"
    assert all(advice[1][r] == "alternative" for r in slower)  # but not minutes slower


def test_road_names_drop_the_direction() -> None:
    assert road_name("Heng 2 Road eastbound") == "Heng 2 Road"
    assert road_name("Binhai Avenue Northbound") == "Binhai Avenue"
    assert road_name("Renmin Avenue") == "Renmin Avenue"


def test_routes_sharing_a_name_are_named_by_where_they_part(city: City) -> None:
    for screen in city.screens:
        names = [p.name for p in route_plans(city, screen)]
        assert len(set(names)) == len(names), names
    # this city's first screen has two routes "via Heng 4 Road" that part at the next road
    plans = route_plans(city, city.screens[0])
    assert [r.name for r in city.screens[0].routes] == [
        "via Heng 4 Road", "via Zong 3 Road", "via Heng 4 Road"]
    assert [p.name for p in plans] == ["via Heng 4 Road, then Zong 7 Road", "via Zong 3 Road",
                                       "via Heng 4 Road, then Guoxing Avenue"]


def test_distinct_names_fall_back_to_a_segment_then_the_route_id() -> None:
    roads = [["X Road", "Y Road"], ["X Road", "Y Road"], ["Z Road"]]
    segments = [["G1", "G2"], ["G1", "G3"], ["G9"]]
    assert distinct_names(["via X Road", "via X Road", "via Z Road"], roads, segments,
                          ["S-A", "S-B", "S-C"]) == [
        "via X Road (G2)", "via X Road (G3)", "via Z Road"]
    assert distinct_names(["same", "same"], [["R"], ["R"]], [["G1"], ["G1"]],
                          ["S-A", "S-B"]) == ["same (S-A)", "same (S-B)"]
    assert distinct_names(["a", "b"], [[], []], [[], []], ["1", "2"]) == ["a", "b"]
