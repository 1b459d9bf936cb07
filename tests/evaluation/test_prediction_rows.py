"""Rows of the predictions table: the road baselines read only the past of each origin."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowcast.evaluation.prediction_rows import (
    PROFILE_PERSISTENCE,
    ROAD_BASELINES,
    Grid,
    baseline_forecasts,
)
from flowcast.formats.dataset import make_series_dataset
from flowcast.models.baselines import HistoricalAverage, LastValue, SeasonalNaive

BUCKET_S = 900
PER_DAY = 96
TZ = "Asia/Shanghai"


def _roads(speed: np.ndarray):
    times = pd.date_range("2025-03-03", periods=speed.shape[1], freq="15min", tz=TZ)
    return make_series_dataset("sensor", [f"S{i}" for i in range(len(speed))], times,
                               {"speed": speed}, {"speed": "km/h"}, interval_s=BUCKET_S,
                               timezone=TZ)


def _speed(days: int = 9, n: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = days * PER_DAY
    daily = 12 * np.sin(np.arange(t) * 2 * np.pi / PER_DAY)
    return (45 + daily[None, :] + rng.normal(0, 2, (n, t))).astype(np.float32)


def test_baseline_forecasts_read_the_window_ending_at_each_origin() -> None:
    speed = _speed(days=9)
    origins = np.array([700, 800], np.int64)
    got = baseline_forecasts(speed, origins, (1, 3), BUCKET_S)
    assert set(got) == set(ROAD_BASELINES)
    for k, o in enumerate(origins):
        window = speed[:, : o + 1]
        for b in (LastValue(), HistoricalAverage(season=PER_DAY), SeasonalNaive(PER_DAY)):
            np.testing.assert_array_equal(got[b.name][:, k], b.predict(window, np.array([1, 3])).y)
    # profile persistence: last value + the 7-day mean change from now to the target time
    o, h = 800, 3
    past = speed[:, [o - d * PER_DAY for d in range(1, 8)]]
    ahead = speed[:, [o + h - d * PER_DAY for d in range(1, 8)]]
    np.testing.assert_allclose(got[PROFILE_PERSISTENCE][:, 1, 1],
                               speed[:, o] + (ahead - past).mean(axis=1), rtol=1e-5)


def test_baselines_before_the_data_are_missing_not_made_up() -> None:
    speed = _speed(days=2)
    got = baseline_forecasts(speed, np.array([5], np.int64), (1,), BUCKET_S)
    assert np.isnan(got["seasonal_naive"]).all() and np.isnan(got["historical_average"]).all()
    np.testing.assert_array_equal(got["last_value"][:, 0, 0], speed[:, 5])


def test_grid_from_roads() -> None:
    grid = Grid.from_roads(_roads(_speed(days=1)), "speed")
    assert grid.interval_s == BUCKET_S and grid.values.shape == (3, PER_DAY)
    assert grid.ids.tolist() == ["S0", "S1", "S2"]
