"""The live view behind the HTTP API and the pages: how many road-condition messages per second
:meth:`flowcast.serve.view.LiveView.apply` takes for a 10k-segment city (decode, keep the
latest per segment, rank the guidance screens, tell the listeners), and what ranking the
screens costs per issue time (:class:`flowcast.publish.roads.screens.ScreenRanker`).

The messages are the engine's own: :func:`flowcast.publish.roads.conditions.road_condition_messages`
on a :class:`RoadConditions` of every segment of ``generate_city(11_000, 5, seed=3)`` (10,072
segments, 2 guidance screens with 3 routes each), with speeds around each road's free flow,
P10/P90 intervals, trends and confidence as the road cycle computes them. Every round is a new
issue time, so each one ranks the screens once, as in production.

Run: ``.venv/bin/pytest benchmarks/test_view_bench.py --benchmark-only -s``. Figures are printed
and kept in ``extra_info``; nothing asserts a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from timing import Timed

from flowcast.city import City
from flowcast.config import Settings
from flowcast.ingest.simulator import generate_city
from flowcast.publish.roads.conditions import RoadConditions, road_condition_messages
from flowcast.publish.roads.levels import band_table, levels, travel_times_s
from flowcast.publish.roads.outlook import confidence, trends
from flowcast.publish.roads.screens import ScreenRanker
from flowcast.serve.view import LiveView

N_SENSORS = 11_000  # 10,072 segments
HORIZONS_MIN = np.array([15, 30, 45, 60])
BUCKET_MS = 300_000
FIRST_ISSUE_MS = 1_790_899_200_000  # 2026-10-02 08:00 +08:00
ROUNDS = 5


def condition_batch(city: City, settings: Settings, issued_at_ms: int,
                    rng: np.random.Generator) -> list[tuple[bytes, bytes]]:
    """Road-condition ``(key, value)`` records of every segment of ``city`` for one issue time,
    built by the engine's message builder: speeds 30-105 % of free flow now, drifting by up to
    ±25 % over the horizons, with P10/P90 intervals, trends and confidence."""
    n = len(city.segment_ids)
    lv = settings.levels
    bands = band_table(lv)
    klass, length = city.segment_class, city.segment_length_m
    speed = city.segment_free_flow_kmh * rng.uniform(0.3, 1.05, n)
    drift = 1.0 + rng.uniform(-0.25, 0.25, (n, 1)) * (np.arange(1, len(HORIZONS_MIN) + 1) / 4)
    f_speed = speed[:, None] * drift
    half_width = f_speed * rng.uniform(0.05, 0.4, (n, len(HORIZONS_MIN)))
    p10, p90 = np.maximum(f_speed - half_width, 1.0), f_speed + half_width
    level_now = levels(speed, klass, bands)
    tt_now = travel_times_s(length, speed, lv.min_speed_kmh)
    f_level = levels(f_speed, klass[:, None], bands)
    f_tt = travel_times_s(length[:, None], f_speed, lv.min_speed_kmh)
    conf = confidence(f_speed, p10, p90, klass, bands, high_width=lv.confidence_high_width,
                      low_width=lv.confidence_low_width,
                      speed_floor_kmh=lv.confidence_speed_floor_kmh)
    conditions = RoadConditions(
        segment_ids=city.segment_ids, issued_at_ms=issued_at_ms, horizons_min=HORIZONS_MIN,
        speed=speed, level=level_now, travel_time_s=tt_now,
        flow=rng.uniform(20, 400, n), occupancy=rng.uniform(0.02, 0.6, n),
        imputed_share=np.zeros(n), forecast_speed=f_speed, forecast_level=f_level,
        forecast_travel_time_s=f_tt, model="lightgbm:bench", forecast_p10=p10,
        forecast_p90=p90,
        forecast_trend=trends(tt_now, level_now, f_tt, f_level, lv.trend_tolerance),
        forecast_confidence=conf.label, forecast_confidence_score=conf.score)
    return road_condition_messages(conditions)


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(N_SENSORS, 5, seed=3)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


Records = list[tuple[bytes, bytes]]


def _issue_batches(city: City, settings: Settings) -> Iterator[tuple[int, Records]]:
    """Successive issue times (5 min apart) and their records, built on demand."""
    rng = np.random.default_rng(11)
    issued = FIRST_ISSUE_MS
    while True:
        yield issued, condition_batch(city, settings, issued, rng)
        issued += BUCKET_MS


def _apply_all(view: LiveView, topic: str, records: list[tuple[bytes, bytes]]) -> int:
    """Apply every record to the view; how many changed it."""
    return sum(view.apply(topic, key, value) for key, value in records)


def test_view_apply_messages_per_second(benchmark: Any, city: City, settings: Settings) -> None:
    view = LiveView(city, settings)
    events: list[str] = []
    view.add_listener(lambda kind, payload: events.append(kind))
    topic = settings.topics.road_conditions
    batches = _issue_batches(city, settings)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        _, records = next(batches)
        return (view, topic, records), {}

    apply_all = Timed(_apply_all)
    changed = benchmark.pedantic(apply_all, setup=setup, rounds=ROUNDS, iterations=1)
    n_segments = len(city.segment_ids)
    issues = len(apply_all.seconds)
    rate = n_segments / apply_all.median
    value_bytes = sum(len(v) for _, v in condition_batch(city, settings, 0,
                                                         np.random.default_rng(0)))
    benchmark.extra_info.update({
        "segments": n_segments, "issue_times": issues, "messages_per_s": rate,
        "ms_per_issue_time": apply_all.median * 1000, "best_ms": apply_all.best * 1000,
        "mean_message_bytes": value_bytes / n_segments,
        "screens_ranked": view.applied["screen"]})
    print(f"\nLiveView.apply: {rate:,.0f} condition messages/s ({n_segments:,} segments, "
          f"{value_bytes / n_segments:.0f} B each): {apply_all.median * 1000:.0f} ms per issue "
          f"time (best {apply_all.best * 1000:.0f} ms, {issues} issue times), "
          f"{view.applied['screen']} screen rankings")
    assert changed == n_segments
    assert view.applied["condition"] == n_segments * issues
    assert view.applied["screen"] == len(city.screens) * issues
    assert events.count("condition") == n_segments * issues
    assert not view.rejected
    assert len(view.conditions()) == n_segments


def _rank_issue(ranker: ScreenRanker, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Feed one issue time's conditions to the ranker; the screen messages it completed."""
    screens: list[dict[str, Any]] = []
    for message in messages:
        screens += ranker.add(message)
    return screens


@pytest.mark.parametrize("feed", ["all_segments", "watched_only"])
def test_screen_ranking_per_issue_time(benchmark: Any, city: City, settings: Settings,
                                       feed: str) -> None:
    """``all_segments``: every condition of the city goes through the ranker, as in the view
    (most are not on a screen's route); ``watched_only``: just the routes' segments, i.e. the
    ranking itself."""
    ranker = ScreenRanker(city)
    batches = _issue_batches(city, settings)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        _, records = next(batches)
        messages = [orjson.loads(value) for _, value in records]
        if feed == "watched_only":
            messages = [m for m in messages if m["segment"] in ranker.watched]
        return (ranker, messages), {}

    rank = Timed(_rank_issue)
    screens = benchmark.pedantic(rank, setup=setup, rounds=ROUNDS * 4, iterations=1)
    issues = len(rank.seconds)
    benchmark.extra_info.update({
        "feed": feed, "screens": len(city.screens), "watched_segments": len(ranker.watched),
        "issue_times": issues, "ms_per_issue_time": rank.median * 1000,
        "best_ms": rank.best * 1000})
    print(f"\nScreenRanker ({feed}): {rank.median * 1000:.2f} ms per issue time "
          f"(best {rank.best * 1000:.2f} ms) for {len(city.screens)} screens over "
          f"{len(ranker.watched)} route segments, {issues} issue times")
    assert len(screens) == len(city.screens)
    assert {s["screen"] for s in screens} == {s.id for s in city.screens}
    assert all(r["rank"] is not None for s in screens for r in s["routes"])
    assert ranker.dropped_issues == 0
