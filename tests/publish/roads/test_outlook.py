"""Trend and confidence of road-condition forecasts."""

from __future__ import annotations

import numpy as np
import pytest

from flowcast.city import ROAD_CLASSES
from flowcast.config import LevelSettings, load_settings
from flowcast.errors import FlowcastUserError
from flowcast.publish.roads.levels import band_table, levels, travel_times_s
from flowcast.publish.roads.outlook import (
    HIGH,
    IMPROVING,
    LOW,
    MEDIUM,
    STEADY,
    UNKNOWN,
    WORSENING,
    confidence,
    confidence_names,
    trend_names,
    trends,
)

ARTERIAL = ROAD_CLASSES.index("arterial")
EXPRESSWAY = ROAD_CLASSES.index("expressway")
BANDS = band_table(LevelSettings())
WIDTHS = {"high_width": 0.25, "low_width": 0.6, "speed_floor_kmh": 10.0}


def _trend_from_speeds(now_kmh: float, forecast_kmh: list[float], road_class: int,
                       tolerance: float = 0.1) -> list[int]:
    """Trend codes of one segment of 1 km, computed as the road cycle does."""
    now = np.array([now_kmh])
    forecast = np.array([forecast_kmh])
    classes = np.array([road_class])
    length = np.array([1000.0])
    return trends(travel_times_s(length, now, 3.0), levels(now, classes, BANDS),
                  travel_times_s(length[:, None], forecast, 3.0),
                  levels(forecast, classes[:, None], BANDS), tolerance)[0].tolist()


def test_a_worse_level_is_worsening_and_a_better_one_improving() -> None:
    # arterial at 35 km/h (basically smooth): 25 is light congestion, 45 is smooth
    assert _trend_from_speeds(35.0, [25.0, 45.0], ARTERIAL) == [WORSENING, IMPROVING]


def test_a_small_travel_time_wiggle_at_the_same_level_is_steady() -> None:
    # expressway, smooth throughout: 100 -> 96 / 104 km/h moves the travel time by about 4 %
    assert _trend_from_speeds(100.0, [96.0, 104.0, 100.0], EXPRESSWAY) == [STEADY] * 3


def test_a_large_move_within_a_level_counts_past_the_tolerance() -> None:
    # expressway, smooth throughout: 100 -> 70 km/h is +43 % travel time, 70 -> 100 is -30 %
    assert _trend_from_speeds(100.0, [70.0], EXPRESSWAY) == [WORSENING]
    assert _trend_from_speeds(70.0, [100.0], EXPRESSWAY) == [IMPROVING]
    # the same +43 % is steady under a 50 % tolerance
    assert _trend_from_speeds(100.0, [70.0], EXPRESSWAY, tolerance=0.5) == [STEADY]


def test_the_level_change_dominates_a_tiny_travel_time_change() -> None:
    # arterial 40.5 -> 39.5 km/h: only 2.5 % slower, but it leaves "smooth": the colour changes
    assert _trend_from_speeds(40.5, [39.5], ARTERIAL) == [WORSENING]
    # inconsistent inputs: the level says better, the travel time says much worse; level wins
    got = trends(np.array([100.0]), np.array([3]), np.array([[200.0]]), np.array([[2]]), 0.1)
    assert got.tolist() == [[IMPROVING]]


def test_tolerance_edges_are_steady() -> None:
    now_tt, level = np.array([100.0]), np.array([2])
    forecast_tt = np.array([[110.0, 110.5, 90.0, 89.5]])
    got = trends(now_tt, level, forecast_tt, np.full((1, 4), 2), 0.1)
    assert got.tolist() == [[STEADY, WORSENING, STEADY, IMPROVING]]


def test_unknown_level_falls_back_to_travel_time_and_nothing_known_is_steady() -> None:
    got = trends(np.array([100.0, 100.0]), np.array([0, 2]),
                 np.array([[150.0, np.nan], [np.nan, 150.0]]), np.array([[3, 0], [0, 2]]), 0.1)
    assert got.tolist() == [[WORSENING, STEADY], [STEADY, WORSENING]]
    assert got.dtype == np.int8


def test_trends_are_vectorised_over_segments_and_horizons() -> None:
    rng = np.random.default_rng(4)
    g, h = 50, 4
    classes = rng.integers(0, len(ROAD_CLASSES), g)
    now = rng.uniform(5, 110, g)
    forecast = rng.uniform(5, 110, (g, h))
    length = rng.uniform(200, 3000, g)
    now_lv, f_lv = levels(now, classes, BANDS), levels(forecast, classes[:, None], BANDS)
    got = trends(travel_times_s(length, now, 3.0), now_lv,
                 travel_times_s(length[:, None], forecast, 3.0), f_lv, 0.1)
    assert got.shape == (g, h)
    changed = f_lv != now_lv[:, None]
    assert (got[changed] == np.sign(f_lv - now_lv[:, None])[changed]).all()
    # at the same level, the trend follows the speed ratio past the tolerance
    ratio = now[:, None] / np.maximum(forecast, 3.0)  # travel time ratio forecast / now
    same = ~changed
    assert (got[same & (ratio > 1.1)] == WORSENING).all()
    assert (got[same & (ratio < 0.9)] == IMPROVING).all()
    assert (got[same & (ratio > 0.9) & (ratio < 1.1)] == STEADY).all()


def test_trend_names() -> None:
    names = trend_names(np.array([[IMPROVING, STEADY, WORSENING]], dtype=np.int8))
    assert names.tolist() == [["improving", "steady", "worsening"]]


def _confidence(speed: list[float], p10: list[float], p90: list[float],
                road_class: int = EXPRESSWAY) -> tuple[list[float], list[int]]:
    got = confidence(np.array([speed]), np.array([p10]), np.array([p90]),
                     np.array([road_class]), BANDS, **WIDTHS)
    return got.score[0].tolist(), got.label[0].tolist()


def test_confidence_labels_follow_the_relative_width() -> None:
    # expressway, all inside "smooth" (> 65 km/h): widths 0.1, 0.25, 0.4, 0.6, 0.8 of 100 km/h
    score, label = _confidence([100.0] * 5, [95.0, 90.0, 80.0, 70.0, 66.0],
                               [105.0, 115.0, 120.0, 130.0, 146.0])
    assert label == [HIGH, HIGH, MEDIUM, MEDIUM, LOW]
    assert score[0] > score[1] > score[2] > score[3] > score[4] >= 0
    assert score[1] == pytest.approx(2 / 3) and score[3] == pytest.approx(1 / 3)
    assert score[0] == pytest.approx(1 - 0.1 / 0.25 / 3)


def test_zero_width_is_full_confidence_and_very_wide_is_zero() -> None:
    score, label = _confidence([100.0, 100.0], [100.0, 70.0], [100.0, 200.0])
    assert label == [HIGH, LOW]
    assert score == [1.0, 0.0]


def test_an_interval_straddling_a_level_boundary_cannot_be_high() -> None:
    # arterial, width 0.1 of 40 km/h, but 38..42 crosses the 40 km/h boundary (levels 2 and 1)
    score, label = _confidence([40.0, 45.0], [38.0, 43.0], [42.0, 47.0], ARTERIAL)
    assert label == [MEDIUM, HIGH]
    assert score[0] == pytest.approx(2 / 3) and score[1] > 2 / 3


def test_an_interval_spanning_three_levels_is_low() -> None:
    # arterial 28 km/h, width 0.5: 18..32 spans moderate congestion (4) to basically smooth (2)
    score, label = _confidence([28.0], [18.0], [32.0], ARTERIAL)
    assert levels(np.array([18.0, 32.0]), np.array([ARTERIAL] * 2), BANDS).tolist() == [4, 2]
    assert label == [LOW]
    assert score[0] <= 1 / 3


def test_the_speed_floor_keeps_a_stopped_road_finite() -> None:
    # expressway at 2 km/h, interval 1..4 km/h (all "severe"): width 3 / max(2, 10) = 0.3
    score, label = _confidence([2.0], [1.0], [4.0])
    assert label == [MEDIUM]
    assert 1 / 3 < score[0] < 2 / 3


def test_nan_gives_unknown_and_names_say_none() -> None:
    got = confidence(np.array([[np.nan, 100.0]]), np.array([[90.0, np.nan]]),
                     np.array([[110.0, 110.0]]), np.array([EXPRESSWAY]), BANDS, **WIDTHS)
    assert got.label.tolist() == [[UNKNOWN, UNKNOWN]]
    assert np.isnan(got.score).all()
    assert confidence_names(np.array([UNKNOWN, LOW, MEDIUM, HIGH])).tolist() == [
        None, "low", "medium", "high"]


def test_confidence_rejects_bad_thresholds() -> None:
    one = np.ones((1, 1))
    with pytest.raises(ValueError, match="high_width"):
        confidence(one, one, one, np.array([0]), BANDS, high_width=0.6, low_width=0.25,
                   speed_floor_kmh=10.0)
    with pytest.raises(ValueError, match="tolerance"):
        trends(np.ones(1), np.ones(1), one, one, -0.1)


def test_settings_validate_the_thresholds() -> None:
    settings = LevelSettings()
    assert settings.confidence_high_width < settings.confidence_low_width
    assert 0 < settings.trend_tolerance < 1
    with pytest.raises(FlowcastUserError, match="confidence_high_width"):
        load_settings(environ={"FLOWCAST_LEVELS_CONFIDENCE_HIGH_WIDTH": "0.9"})
    with pytest.raises(FlowcastUserError, match="trend_tolerance"):
        load_settings(environ={"FLOWCAST_LEVELS_TREND_TOLERANCE": "-0.1"})
    custom = load_settings(environ={"FLOWCAST_LEVELS_TREND_TOLERANCE": "0.2"})
    assert custom.levels.trend_tolerance == 0.2
