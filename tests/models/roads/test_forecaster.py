"""The road forecaster: shapes, bounds, non-crossing intervals, horizons in minutes, and the live
forecast cycle (``predict_live`` from a real history ring) against offline rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowcast.city import Csr
from flowcast.engine.road_history import History
from flowcast.formats.dataset import make_series_dataset
from flowcast.kernels import history as kh
from flowcast.models.forecaster import Forecast, Forecaster
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.forecaster import (
    RoadForecaster,
    live_rows,
    predict_live,
)
from flowcast.models.roads.matrices import training_matrix
from flowcast.models.roads.training import TrainConfig, road_history, train_road_model

BUCKET_S = 900
PER_DAY = 96
N, DAYS = 5, 5
TZ = "Asia/Shanghai"


def _roads(seed: int = 0, zeros: float = 0.0):
    """Five sensors, five days of 15-min speeds with a daily shape and noise."""
    rng = np.random.default_rng(seed)
    t = DAYS * PER_DAY
    tod = np.arange(t) % PER_DAY
    speed = (45 + 12 * np.sin(2 * np.pi * tod / PER_DAY)[None, :] + rng.normal(0, 3, (N, t))
             + np.arange(N)[:, None] * 2).astype(np.float32)
    speed[rng.random((N, t)) < zeros] = 0
    times = pd.date_range("2025-03-03", periods=t, freq="15min", tz=TZ)
    graph = Csr.from_edges(N, np.arange(N), (np.arange(N) + 1) % N)
    return make_series_dataset("sensor", [f"S{i}" for i in range(N)], times, {"speed": speed},
                               {"speed": "km/h"}, interval_s=BUCKET_S, timezone=TZ,
                               graph=(graph.indptr, graph.indices))


@pytest.fixture(scope="module")
def trained() -> tuple[RoadForecaster, FeatureHistory]:
    roads = _roads()
    history = road_history(roads)
    spec = FeatureSpec.for_bucket(BUCKET_S, horizons=(1, 4))
    config = TrainConfig(horizons=(1, 4), max_rounds=40, threads=1)
    return train_road_model(history, spec, config, progress=False).model, history


def test_predict_shapes_bounds_and_intervals(trained: tuple) -> None:
    model, history = trained
    x, _, _ = training_matrix(history, model.spec, model.horizons)
    forecast = model.predict_rows(x)
    assert forecast.y.shape == (len(x), 2) and forecast.y.dtype == np.float32
    assert forecast.p10 is not None and forecast.p90 is not None
    assert (forecast.p10 <= forecast.p90).all()
    assert np.isfinite(forecast.y).all() and (forecast.y >= 0).all()
    assert model.predict_rows(x, intervals=False).p10 is None
    with pytest.raises(ValueError, match=rf"feature rows must be \(R, {x.shape[1]}\)"):
        model.predict_rows(x[:, :-1])


def test_crossed_quantile_boosters_are_sorted_per_row(trained: tuple) -> None:
    """Swap each horizon's P10 and P90 boosters: every raw pair now crosses, the forecast
    still has p10 <= p90 and the same two values."""
    model, history = trained
    x, _, _ = training_matrix(history, model.spec, model.horizons)
    swapped = RoadForecaster(model.spec, model.horizons, model.boosters,
                             {h: (hi, lo) for h, (lo, hi) in model.quantile_boosters.items()})
    raw_lo = model.quantile_boosters[1][0].predict(x)
    raw_hi = model.quantile_boosters[1][1].predict(x)
    assert (raw_lo < raw_hi).mean() > 0.9  # the honest boosters are mostly ordered
    forecast: Forecast = swapped.predict_rows(x)
    assert forecast.p10 is not None and forecast.p90 is not None
    assert (forecast.p10 <= forecast.p90).all()
    np.testing.assert_allclose(forecast.p10[:, 0], np.minimum(raw_lo, raw_hi), rtol=1e-6)
    np.testing.assert_allclose(forecast.p90[:, 0], np.maximum(raw_lo, raw_hi), rtol=1e-6)


def test_forecaster_refuses_inconsistent_boosters(trained: tuple) -> None:
    model, _ = trained
    with pytest.raises(ValueError, match="one booster per horizon"):
        RoadForecaster(model.spec, (1, 4, 8), model.boosters)
    with pytest.raises(ValueError, match="ascending"):
        RoadForecaster(model.spec, (4, 1), model.boosters)


def _ring(history: FeatureHistory) -> History:
    """A real history ring holding every bucket of ``history`` (speed only); bucket ``b``
    sits in ring column ``b % T`` as the engine's ring keeps it."""
    n, t = history.n_sensors, history.n_buckets
    order = np.argsort(history.buckets % t)
    nan = np.full((t, n), np.nan, np.float32)
    data = {"flow": nan, "occupancy": nan, "speed": history.values["speed"].T[order].copy(),
            "speed_weight_code": np.zeros((t, n), np.uint16),
            "count": np.ones((t, n), np.uint8), "occupancy_count": np.zeros((t, n), np.uint8),
            "flags": history.flags.T[order].copy(), "imputed": history.imputed.T[order].copy(),
            "col_bucket": history.buckets[order].copy()}
    ring = History.from_export(data)
    assert (ring.col_bucket != kh.NO_BUCKET).all()
    return ring


def test_predict_live_equals_offline_prediction_at_the_same_bucket(trained: tuple) -> None:
    """The engine's step (sparse ring reads -> live rows -> every horizon) gives the offline
    model's forecast for the last bucket, value for value."""
    model, history = trained
    ring = _ring(history)
    offline_history = FeatureHistory.from_export(
        ring.export(), bucket_s=BUCKET_S, timezone=TZ, static=history.static,
        graph=history.graph)
    anchor = int(offline_history.buckets[-1])
    live = predict_live(model, ring.window, anchor, timezone=TZ, static=history.static,
                        graph=history.graph)
    x, _, anchors = training_matrix(offline_history, model.spec, model.horizons)
    expected = model.predict_rows(x[anchors.column == offline_history.n_buckets - 1])
    assert live.y.shape == (N, 2) and live.horizons == (1, 4)
    np.testing.assert_array_equal(live.y, expected.y)
    np.testing.assert_array_equal(live.p10, expected.p10)
    np.testing.assert_array_equal(live.p90, expected.p90)
    assert live.target_buckets.tolist() == [anchor + 1, anchor + 4]


def test_live_rows_apply_the_models_zero_rule(trained: tuple) -> None:
    """A model trained with zeros as "no data" sees a live zero as missing, not as 0 km/h."""
    model, history = trained
    speed = history.values["speed"].copy()
    speed[:, -1] = 0.0
    zeroed = FeatureHistory({"speed": speed}, history.flags, history.imputed, history.buckets,
                            BUCKET_S, TZ, history.static, history.graph)
    ring = _ring(zeroed)
    anchor = int(history.buckets[-1])
    lag1 = model.spec.names.index("speed_lag_1")
    model.zero_is_missing = False
    assert (live_rows(model, ring.window, anchor, timezone=TZ)[:, lag1] == 0).all()
    model.zero_is_missing = True
    try:
        assert np.isnan(live_rows(model, ring.window, anchor, timezone=TZ)[:, lag1]).all()
    finally:
        model.zero_is_missing = False


def test_conformal_margins_reach_the_coverage_and_widen_keeps_order() -> None:
    from flowcast.models.roads.forecaster import conformal_margins, widen_intervals

    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, (4000, 2))
    lo = np.full_like(y, -0.5)  # covers ~38 %: too narrow
    hi = np.full_like(y, 0.5)
    lo[:, 1], hi[:, 1] = -3.0, 3.0  # covers ~99.7 %: too wide
    y[::50, 0] = np.nan  # NaN truths are skipped
    margins = conformal_margins(y, lo, hi, (1, 2), coverage=0.8)
    assert margins[1] > 0 > margins[2]
    wlo, whi = widen_intervals(lo, hi, np.array([margins[1], margins[2]]))
    for j in (0, 1):
        known = np.isfinite(y[:, j])
        inside = (y[known, j] >= wlo[known, j]) & (y[known, j] <= whi[known, j])
        assert abs(inside.mean() - 0.8) < 0.02
    # a margin narrower than the interval stops at its midpoint: never crossed
    nlo, nhi = widen_intervals(lo, hi, np.array([-5.0, -5.0]))
    assert np.all(nlo <= nhi)
    assert conformal_margins(y[:10], lo[:10], hi[:10], (1, 2)) == {1: 0.0, 2: 0.0}


def test_the_road_model_meets_the_forecaster_protocol(trained: tuple) -> None:
    """``predict(window)`` forecasts every sensor at the window's last bucket, as the rows built
    offline there; a subset of the horizons picks their columns; others are refused."""
    model, history = trained
    assert isinstance(model, Forecaster)
    x, _, anchors = training_matrix(history, model.spec, model.horizons)
    expected = model.predict_rows(x[anchors.column == history.n_buckets - 1])
    got = model.predict(history)
    np.testing.assert_array_equal(got.y, expected.y)
    np.testing.assert_array_equal(got.p90, expected.p90)
    only = model.predict(history, [4])
    np.testing.assert_array_equal(only.y, expected.y[:, 1:])
    with pytest.raises(ValueError, match="no forecast for horizon"):
        model.predict(history, [2])
