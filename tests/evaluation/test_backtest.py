"""Backtests: fold arithmetic (single split, rolling origins, T-GCN), no data after an origin
is ever read, the baselines' windows, and the predictions table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.backtest import (
    PROFILE_PERSISTENCE,
    ROAD_BASELINES,
    BacktestSetup,
    Grid,
    backtest_roads,
    baseline_forecasts,
    plan_folds,
)
from flowcast.formats.dataset import make_series_dataset
from flowcast.models.baselines import HistoricalAverage, LastValue, SeasonalNaive
from flowcast.models.roads.features import FeatureSpec
from flowcast.models.roads.training import TrainConfig

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


def _setup(horizons: tuple[int, ...] = (1, 2), quantiles: bool = False) -> BacktestSetup:
    spec = FeatureSpec.for_bucket(BUCKET_S, horizons=horizons)
    return BacktestSetup(spec, TrainConfig(horizons=horizons, max_rounds=30, threads=1,
                                           quantiles=quantiles))


# ----- folds ------------------------------------------------------------------------------------

def test_single_split_arithmetic() -> None:
    (fold,) = plan_folds(100, (1, 4), test_fraction=0.2)
    assert fold.train_end == 80  # columns 0..79 train; the test span is 80..99
    assert fold.origins[0] == 79 and fold.origins[-1] == 98  # first target 80, last 99


def test_tgcn_split_matches_the_papers_windows() -> None:
    """SZ-taxi: 2976 steps, train rows 0..2379, test windows of 4 inputs inside the test part,
    targets 2384..2974 at 15 min (the last row is never a target)."""
    (fold,) = plan_folds(2976, (1, 2, 3, 4), protocol="tgcn", bucket_s=900)
    assert fold.train_end == 2380
    assert fold.origins[0] == 2383 and fold.origins[-1] == 2973 and len(fold.origins) == 591
    (fold,) = plan_folds(2976, (1,), protocol="tgcn", bucket_s=300)
    assert fold.origins[0] == 2380 + 12 - 1  # an hour of 5-min inputs, as for Los-loop


def test_rolling_origins_cover_the_test_span_once() -> None:
    folds = plan_folds(1000, (1, 4), test_fraction=0.3, folds=4)
    origins = np.concatenate([f.origins for f in folds])
    assert origins.tolist() == list(range(699, 999))
    for fold in folds:
        assert fold.train_end == fold.origins[0] + 1  # everything up to the first origin
    assert [f.train_end for f in folds] == [700, 775, 850, 925]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"test_fraction": 0.0}, "between 0 and 1"),
    ({"test_fraction": 1.0}, "between 0 and 1"),
    ({"folds": 0}, "--folds must be at least 1"),
    ({"folds": 2, "protocol": "tgcn"}, "single 80/20 split"),
    ({"protocol": "arima"}, "unknown protocol"),
    ({"horizons": (30,), "test_fraction": 0.2}, "longest horizon .* is longer than the test"),
    ({"folds": 50, "test_fraction": 0.2}, "50 folds do not fit"),
    ({"min_train": 90}, "only 80 buckets before the test span"),
])
def test_bad_plans_are_refused(kwargs: dict, message: str) -> None:
    args = {"horizons": (1, 4), **kwargs}
    horizons = args.pop("horizons")
    with pytest.raises(FlowcastUserError, match=message):
        plan_folds(100, horizons, **args)


# ----- baselines ---------------------------------------------------------------------------------

def test_baseline_forecasts_read_the_window_ending_at_each_origin() -> None:
    speed = _speed(days=9)
    origins = np.array([700, 800], np.int64)
    got = baseline_forecasts(speed, origins, (1, 3), BUCKET_S)
    assert set(got) == set(ROAD_BASELINES)
    for k, o in enumerate(origins):
        window = speed[:, : o + 1]
        for b in (LastValue(), HistoricalAverage(season=PER_DAY), SeasonalNaive(PER_DAY)):
            np.testing.assert_array_equal(got[b.name][:, k], b.predict(window, np.array([1, 3])))
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


# ----- the backtest ------------------------------------------------------------------------------

def test_backtest_table_has_the_model_and_every_baseline() -> None:
    roads = _roads(_speed())
    result = backtest_roads(roads, _setup(quantiles=True), test_fraction=0.2, progress=False)
    table = result.predictions
    assert set(table["model"]) == {"lightgbm", *ROAD_BASELINES}
    assert {"p10", "p90", "fold"} <= set(table.columns)
    model = table[table["model"] == "lightgbm"]
    assert model["p10"].notna().all() and (model["p10"] <= model["p90"]).all()
    assert table.loc[table["model"] != "lightgbm", "p10"].isna().all()
    t = roads.sizes["time"]
    last_end = pd.Timestamp(roads["time"].values[-1], tz="UTC") + pd.Timedelta(minutes=15)
    assert table["target_time"].max() == last_end  # targets stop at the data's end
    step = pd.to_timedelta(table["horizon_steps"] * 15, unit="min")
    assert (table["target_time"] - table["origin"] == step).all()
    truth = roads["speed"].values
    row = model.iloc[0]
    col = int((row["target_time"] - pd.Timestamp(roads["time"].values[0], tz="UTC"))
              / pd.Timedelta(minutes=15)) - 1
    assert row["y_true"] == pytest.approx(truth[int(row["series"][1:]), col])
    test_span = t - int(t * 0.8)  # every test bucket is a target at 1 step, all but one at 2
    assert len(model) == 3 * (test_span + test_span - 1)
    assert result.mode == "trained" and result.scoring == {"zero_is_missing": False}


def test_no_data_after_an_origin_is_read() -> None:
    """Perturb everything from column ``c`` on: every forecast issued at an origin before ``c``
    (both folds' models, every baseline) is unchanged; later ones may change."""
    speed = _speed(days=9)
    t = speed.shape[1]
    folds = plan_folds(t, (1, 2), test_fraction=0.25, folds=2)
    c = int(folds[1].origins[len(folds[1].origins) // 2])
    future = speed.copy()
    future[:, c:] = 80.0
    a = backtest_roads(_roads(speed), _setup(), test_fraction=0.25, folds=2,
                       progress=False).predictions
    b = backtest_roads(_roads(future), _setup(), test_fraction=0.25, folds=2,
                       progress=False).predictions
    origin_c = pd.Timestamp(_roads(speed)["time"].values[c], tz="UTC") + pd.Timedelta(minutes=15)
    keys = ["model", "series", "origin", "horizon_steps"]
    a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
    before = (a["origin"] < origin_c).to_numpy()
    assert before.sum() > 0 and (~before).sum() > 0
    assert set(a.loc[before, "fold"]) == {0, 1}
    np.testing.assert_array_equal(a.loc[before, "y_pred"], b.loc[before, "y_pred"])
    assert not np.array_equal(a.loc[~before, "y_pred"], b.loc[~before, "y_pred"])


def test_tgcn_backtest_forecasts_every_step_and_drops_the_last_row() -> None:
    roads = _roads(_speed(days=9))
    with pytest.raises(FlowcastUserError, match=r"every step 1\.\.h"):
        backtest_roads(roads, _setup((1, 3)), protocol="tgcn", progress=False)
    result = backtest_roads(roads, _setup((1, 2, 3)), protocol="tgcn", progress=False)
    table = result.predictions
    last = pd.Timestamp(roads["time"].values[-2], tz="UTC") + pd.Timedelta(minutes=15)
    assert table["target_time"].max() == last
    assert sorted(table["horizon_steps"].unique()) == [1, 2, 3]


def test_grid_from_roads() -> None:
    grid = Grid.from_roads(_roads(_speed(days=1)), "speed")
    assert grid.interval_s == BUCKET_S and grid.values.shape == (3, PER_DAY)
    assert grid.ids.tolist() == ["S0", "S1", "S2"]
