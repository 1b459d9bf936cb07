"""Backtests: no data after an origin is ever read, and the predictions table of the model and
every baseline (fold arithmetic: test_folds.py; the baselines' windows: test_prediction_rows.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.synthetic_roads import BUCKET_S, synthetic_roads, synthetic_speed
from flowcast.errors import FlowcastUserError
from flowcast.evaluation.backtest import BacktestSetup, backtest_roads
from flowcast.evaluation.folds import plan_folds
from flowcast.evaluation.prediction_rows import ROAD_BASELINES
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.training import TrainConfig


def _setup(horizons: tuple[int, ...] = (1, 2), quantiles: bool = False) -> BacktestSetup:
    spec = FeatureSpec.for_bucket(BUCKET_S, horizons=horizons)
    return BacktestSetup(spec, TrainConfig(horizons=horizons, max_rounds=30, threads=1,
                                           quantiles=quantiles))


# ----- the backtest ------------------------------------------------------------------------------

def test_backtest_table_has_the_model_and_every_baseline() -> None:
    roads = synthetic_roads(synthetic_speed())
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
    speed = synthetic_speed(days=9)
    t = speed.shape[1]
    folds = plan_folds(t, (1, 2), test_fraction=0.25, folds=2)
    c = int(folds[1].origins[len(folds[1].origins) // 2])
    future = speed.copy()
    future[:, c:] = 80.0
    a = backtest_roads(synthetic_roads(speed), _setup(), test_fraction=0.25, folds=2,
                       progress=False).predictions
    b = backtest_roads(synthetic_roads(future), _setup(), test_fraction=0.25, folds=2,
                       progress=False).predictions
    origin_c = (pd.Timestamp(synthetic_roads(speed)["time"].values[c], tz="UTC")
                + pd.Timedelta(minutes=15))
    keys = ["model", "series", "origin", "horizon_steps"]
    a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
    before = (a["origin"] < origin_c).to_numpy()
    assert before.sum() > 0 and (~before).sum() > 0
    assert set(a.loc[before, "fold"]) == {0, 1}
    np.testing.assert_array_equal(a.loc[before, "y_pred"], b.loc[before, "y_pred"])
    assert not np.array_equal(a.loc[~before, "y_pred"], b.loc[~before, "y_pred"])


def test_tgcn_backtest_forecasts_every_step_and_drops_the_last_row() -> None:
    roads = synthetic_roads(synthetic_speed(days=9))
    with pytest.raises(FlowcastUserError, match=r"every step 1\.\.h"):
        backtest_roads(roads, _setup((1, 3)), protocol="tgcn", progress=False)
    result = backtest_roads(roads, _setup((1, 2, 3)), protocol="tgcn", progress=False)
    table = result.predictions
    last = pd.Timestamp(roads["time"].values[-2], tz="UTC") + pd.Timedelta(minutes=15)
    assert table["target_time"].max() == last
    assert sorted(table["horizon_steps"].unique()) == [1, 2, 3]
