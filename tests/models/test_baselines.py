"""Baseline forecasters against hand-computed expectations."""

from __future__ import annotations

import numpy as np

from flowcast.models.baselines import (
    HistoricalAverage,
    LastValue,
    SeasonalNaive,
    default_baselines,
)


def test_last_value_skips_trailing_gaps_and_gives_up_when_too_old() -> None:
    window = np.array([[1, 2, 3, np.nan], [5, np.nan, np.nan, np.nan], [np.nan] * 4],
                      dtype=np.float32)
    out = LastValue(max_age=3).predict(window, np.array([1, 2])).y
    np.testing.assert_array_equal(out[0], [3, 3])
    assert np.isnan(out[1]).all()  # its only value is 4 buckets old, beyond max_age 3
    assert np.isnan(out[2]).all()


def test_seasonal_naive_picks_the_same_time_one_season_back() -> None:
    season = 4
    window = np.arange(12, dtype=np.float32)[None, :]  # t = 11 is the last bucket
    out = SeasonalNaive(season=season).predict(window, np.array([1, 4, 5])).y
    # h=1 -> t+1-4 = 8; h=4 -> 11; h=5 -> t+5-8 = 8
    np.testing.assert_array_equal(out[0], [8, 11, 8])


def test_historical_average_means_same_time_of_day_skipping_nans() -> None:
    season = 3
    days = np.array([[10, 20, 30], [12, np.nan, 36], [14, 28, 42]], dtype=np.float32)
    window = days.reshape(1, -1)  # three days of three buckets; last bucket = day 3 slot 2
    out = HistoricalAverage(season=season, days=3).predict(window, np.array([1, 2, 3])).y
    # h=1 targets slot 0 of the next day: days' slot 0 values 10, 12, 14 (k = 1..3 back)
    # h=2 targets slot 1: 20, NaN, 28 -> mean of the two observed
    # h=3 targets slot 2: 30, 36, 42
    np.testing.assert_allclose(out[0], [12.0, 24.0, 36.0])


def test_historical_average_on_random_data_matches_reference() -> None:
    rng = np.random.default_rng(0)
    season, days = 24, 5
    window = rng.normal(50, 10, (7, season * days)).astype(np.float32)
    window[rng.random(window.shape) < 0.1] = np.nan
    horizons = np.array([1, 3, 12, 24])
    out = HistoricalAverage(season=season, days=days).predict(window, horizons).y
    t = window.shape[1] - 1
    for j, h in enumerate(horizons):
        cols = [t + h - k * season for k in range(1, days + 1) if t + h - k * season >= 0]
        with np.errstate(all="ignore"):
            expected = np.nanmean(window[:, cols], axis=1)
        np.testing.assert_allclose(out[:, j], expected, rtol=1e-5)


def test_default_baselines_cover_a_day() -> None:
    names = [b.name for b in default_baselines(300)]
    assert names == ["last_value", "historical_average", "seasonal_naive"]
    assert default_baselines(300)[1].lookback == 288 * 7


def test_profile_adjusted_persistence_follows_the_daily_shape() -> None:
    from flowcast.models.baselines import profile_adjusted_persistence

    last = np.array([50.0, 40.0, 30.0])
    past = np.full((3, 2, 3), np.nan)
    # sensor 0: on both past days speed fell by 10 and 20 after "now"
    past[0] = [[60, 50, 40], [64, 54, 44]]
    # sensor 1: one day known at now but not at the second horizon
    past[1] = [[55, 50, np.nan], [np.nan, 1, 2]]
    out = profile_adjusted_persistence(last, past)
    np.testing.assert_allclose(out[0], [40, 30])
    np.testing.assert_allclose(out[1], [35, 40])  # second horizon: no pair -> last value
    np.testing.assert_allclose(out[2], [30, 30])  # no history at all -> last value
