"""JSON messages of the road-condition topic: fields, trend and confidence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import orjson

from flowcast.city import ROAD_CLASSES
from flowcast.config import LevelSettings
from flowcast.publish.roads.conditions import RoadConditions, road_condition_messages
from flowcast.publish.roads.levels import band_table, levels, travel_times_s
from flowcast.publish.roads.outlook import confidence, trends

SETTINGS = LevelSettings()
BANDS = band_table(SETTINGS)
ARTERIAL = ROAD_CLASSES.index("arterial")
ISSUED_AT = 1_764_000_300_000
HORIZONS = np.array([15, 30, 45, 60])
SEVERITY = {"improving": -1, "steady": 0, "worsening": 1}


def _conditions(now: list[float], forecast: list[list[float]],
                interval_kmh: float | None = None) -> RoadConditions:
    """Arterial segments of 1 km with their trend, and with a +-``interval_kmh`` speed
    interval and its confidence when given; computed as the road cycle does."""
    speed = np.array(now)
    f_speed = np.array(forecast)
    g = len(speed)
    road_class = np.full(g, ARTERIAL)
    length = np.full(g, 1000.0)
    c = RoadConditions(
        segment_ids=np.array([f"G{i:04d}" for i in range(g)]), issued_at_ms=ISSUED_AT,
        horizons_min=HORIZONS, speed=speed, level=levels(speed, road_class, BANDS),
        travel_time_s=travel_times_s(length, speed, SETTINGS.min_speed_kmh),
        flow=np.full(g, 20.0), occupancy=np.full(g, 0.1), imputed_share=np.zeros(g),
        forecast_speed=f_speed, forecast_level=levels(f_speed, road_class[:, None], BANDS),
        forecast_travel_time_s=travel_times_s(length[:, None], f_speed,
                                              SETTINGS.min_speed_kmh),
        model="test")
    c.forecast_trend = trends(c.travel_time_s, c.level, c.forecast_travel_time_s,
                              c.forecast_level, SETTINGS.trend_tolerance)
    if interval_kmh is not None:
        c.forecast_p10, c.forecast_p90 = f_speed - interval_kmh, f_speed + interval_kmh
        conf = confidence(f_speed, c.forecast_p10, c.forecast_p90, road_class, BANDS,
                          high_width=SETTINGS.confidence_high_width,
                          low_width=SETTINGS.confidence_low_width,
                          speed_floor_kmh=SETTINGS.confidence_speed_floor_kmh)
        c.forecast_confidence, c.forecast_confidence_score = conf.label, conf.score
    return c


def _bodies(c: RoadConditions) -> list[dict[str, Any]]:
    return [orjson.loads(value) for _, value in road_condition_messages(c)]


def test_existing_fields_are_unchanged() -> None:
    body = _bodies(_conditions([35.0], [[25.0, 35.0, 45.0, 36.0]]))[0]
    assert body["segment"] == "G0000" and body["issued_at"] == ISSUED_AT
    assert body["model"] == "test"
    assert body["now"] == {"speed": 35.0, "level": 2, "travel_time_s": 102.9, "flow": 20.0,
                           "occupancy": 0.1, "imputed_share": 0.0}
    first = body["forecast"][0]
    assert {k: first[k] for k in ("horizon_min", "valid_at", "speed", "level",
                                  "travel_time_s")} == {
        "horizon_min": 15, "valid_at": ISSUED_AT + 15 * 60_000, "speed": 25.0, "level": 3,
        "travel_time_s": 144.0}


def test_every_item_has_a_trend_consistent_with_its_level() -> None:
    # arterial at 35 km/h (level 2): light congestion, steady, smooth, a 3 % wiggle
    body = _bodies(_conditions([35.0], [[25.0, 35.0, 45.0, 36.0]]))[0]
    assert [f["trend"] for f in body["forecast"]] == [
        "worsening", "steady", "improving", "steady"]
    for f in body["forecast"]:
        change = f["level"] - body["now"]["level"]
        if change:
            assert SEVERITY[f["trend"]] == np.sign(change)
    assert body["trend"] == body["forecast"][0]["trend"] == "worsening"


def test_the_top_level_trend_is_the_first_horizons() -> None:
    bodies = _bodies(_conditions([35.0, 25.0, 32.0], [[45.0, 25.0, 25.0, 25.0],
                                                      [25.0, 45.0, 45.0, 45.0],
                                                      [16.0, 45.0, 45.0, 45.0]]))
    assert [b["trend"] for b in bodies] == ["improving", "steady", "worsening"]
    assert [b["forecast"][0]["trend"] for b in bodies] == [b["trend"] for b in bodies]


def test_without_intervals_confidence_is_null() -> None:
    body = _bodies(_conditions([35.0], [[25.0, 35.0, 45.0, 36.0]]))[0]
    for f in body["forecast"]:
        assert f["confidence"] is None and f["confidence_score"] is None
        assert "speed_p10" not in f and "speed_p90" not in f


def test_with_intervals_confidence_is_labelled_and_scored() -> None:
    # +-2 km/h around 45 (smooth, inside the band): narrow -> high; around 40 it straddles
    # the smooth / basically smooth boundary -> medium, its score capped at 2/3; +-15 around
    # 25 -> low
    body = _bodies(_conditions([35.0], [[45.0, 40.0, 36.0, 25.0]], interval_kmh=2.0))[0]
    items = body["forecast"]
    assert [f["confidence"] for f in items[:2]] == ["high", "medium"]
    assert items[0]["confidence_score"] > items[1]["confidence_score"] == round(2 / 3, 2)
    for f in items:
        assert f["speed_p10"] == f["speed"] - 2.0 and f["speed_p90"] == f["speed"] + 2.0
        assert 0.0 <= f["confidence_score"] <= 1.0
        p10_level = levels(np.array([f["speed_p10"]]), np.array([ARTERIAL]), BANDS)[0]
        p90_level = levels(np.array([f["speed_p90"]]), np.array([ARTERIAL]), BANDS)[0]
        if p10_level != p90_level:
            assert f["confidence"] != "high"
    wide = _bodies(_conditions([35.0], [[25.0] * 4], interval_kmh=15.0))[0]
    assert {f["confidence"] for f in wide["forecast"]} == {"low"}


def test_conditions_without_outlook_still_serialise_with_null_trend() -> None:
    c = replace(_conditions([35.0], [[25.0] * 4]), forecast_trend=None)
    body = _bodies(c)[0]
    assert body["trend"] is None
    assert {f["trend"] for f in body["forecast"]} == {None}
    assert [f["level"] for f in body["forecast"]] == [3] * 4


def test_a_slowing_road_is_worsening_at_every_horizon() -> None:
    # 50 -> 45 km/h stays smooth but adds 11 % travel time; then each level is worse
    body = _bodies(_conditions([50.0], [[45.0, 35.0, 18.0, 10.0]]))[0]
    assert [f["level"] for f in body["forecast"]] == [1, 2, 4, 5]
    assert {f["trend"] for f in body["forecast"]} == {"worsening"}
