"""Rows of the predictions table: the road baselines read only the past of each origin."""

from __future__ import annotations

import numpy as np

from evaluation.synthetic_roads import BUCKET_S, PER_DAY, synthetic_roads, synthetic_speed
from flowcast.evaluation.prediction_rows import (
    PROFILE_PERSISTENCE,
    ROAD_BASELINES,
    Grid,
    baseline_forecasts,
)
from flowcast.models.baselines import HistoricalAverage, LastValue, SeasonalNaive


def test_baseline_forecasts_read_the_window_ending_at_each_origin() -> None:
    speed = synthetic_speed(days=9)
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
    speed = synthetic_speed(days=2)
    got = baseline_forecasts(speed, np.array([5], np.int64), (1,), BUCKET_S)
    assert np.isnan(got["seasonal_naive"]).all() and np.isnan(got["historical_average"]).all()
    np.testing.assert_array_equal(got["last_value"][:, 0, 0], speed[:, 5])


def test_grid_from_roads() -> None:
    grid = Grid.from_roads(synthetic_roads(synthetic_speed(days=1)), "speed")
    assert grid.interval_s == BUCKET_S and grid.values.shape == (3, PER_DAY)
    assert grid.ids.tolist() == ["S0", "S1", "S2"]
