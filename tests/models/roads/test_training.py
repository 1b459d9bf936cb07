"""Training: missing targets (NaN, and zeros when they mean no data) are never learnt, only the
past before ``end`` is read, the validation tail is the latest times, sampling, settings JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowcast.formats.dataset import make_series_dataset
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.matrices import training_matrix
from flowcast.models.roads.training import (
    TrainConfig,
    data_hash,
    history_until,
    road_history,
    train_road_model,
)

BUCKET_S = 900
PER_DAY = 96
TZ = "Asia/Shanghai"
SPEC = FeatureSpec.for_bucket(BUCKET_S, horizons=(1, 2))
FAST = {"max_rounds": 60, "threads": 1, "quantiles": False}


def _roads(speed: np.ndarray):
    times = pd.date_range("2025-03-03", periods=speed.shape[1], freq="15min", tz=TZ)
    return make_series_dataset("sensor", [f"S{i}" for i in range(len(speed))], times,
                               {"speed": speed}, {"speed": "km/h"}, interval_s=BUCKET_S,
                               timezone=TZ)


def _flat_with_holes(value: float = 50.0, hole: float = 0.0, seed: int = 0,
                     share: float = 0.3) -> np.ndarray:
    """Four sensors, four days at a steady ``value`` km/h (+ small noise), ``share`` of the
    buckets replaced by ``hole`` (0 or NaN)."""
    rng = np.random.default_rng(seed)
    speed = (value + rng.normal(0, 0.5, (4, 4 * PER_DAY))).astype(np.float32)
    speed[rng.random(speed.shape) < share] = hole
    return speed


def _valid_targets(history, horizons, zeros_missing: bool) -> dict[int, int]:
    """How many anchors have a measured target at each horizon: the rows training may use."""
    _, y, _ = training_matrix(history, SPEC, horizons)
    ok = ~np.isnan(y)
    if zeros_missing:
        ok &= y != 0
    return {h: int(ok[:, j].sum()) for j, h in enumerate(horizons)}


def test_zero_targets_are_not_learnt_when_zeros_mean_no_data() -> None:
    """A steady 50 km/h road whose detector writes 0 for "no data" 30 % of the time: with
    zero_is_missing the model forecasts ~50 everywhere and uses only the non-zero targets;
    learning the zeros as speeds drags its forecasts far below 50."""
    roads = _roads(_flat_with_holes(hole=0.0))
    masked = road_history(roads, zero_is_missing=True)
    kept = road_history(roads, zero_is_missing=False)
    config = TrainConfig(horizons=(1, 2), zero_is_missing=True, **FAST)
    result = train_road_model(masked, SPEC, config, progress=False)
    assert result.rows == _valid_targets(kept, (1, 2), zeros_missing=True)
    x, _, _ = training_matrix(masked, SPEC, (1, 2))
    forecast = result.model.predict_rows(x).y
    assert abs(float(np.median(forecast)) - 50) < 1 and forecast.min() > 45
    assert not (result.validation.y_true == 0).any()  # zeros are not scored either

    naive = train_road_model(kept, SPEC, TrainConfig(horizons=(1, 2), **FAST), progress=False)
    assert naive.rows == _valid_targets(kept, (1, 2), zeros_missing=False)
    x_kept, _, _ = training_matrix(kept, SPEC, (1, 2))
    assert float(np.median(naive.model.predict_rows(x_kept).y)) < 45


def test_nan_targets_are_excluded_and_zeros_kept_by_default() -> None:
    speed = _flat_with_holes(hole=np.nan, seed=1)
    speed[0, 100:110] = 0.0  # a real standstill, kept as a value by default
    history = road_history(_roads(speed))
    result = train_road_model(history, SPEC, TrainConfig(horizons=(1, 2), **FAST),
                              progress=False)
    assert result.rows == _valid_targets(history, (1, 2), zeros_missing=False)
    assert result.rows[1] < 4 * (4 * PER_DAY) * 0.75  # the NaN targets are gone
    assert (result.validation.y_true[~np.isnan(result.validation.y_true)] > 0).all()


def test_training_reads_nothing_from_end_on() -> None:
    """Changing every value from column ``end`` on changes nothing in the trained model."""
    speed = _flat_with_holes(hole=np.nan, seed=2, share=0.05)
    speed += 10 * np.sin(np.arange(speed.shape[1]) * 2 * np.pi / PER_DAY).astype(np.float32)
    end = 300
    future = speed.copy()
    future[:, end:] = 5.0
    config = TrainConfig(horizons=(1, 2), **FAST)
    a = train_road_model(road_history(_roads(speed)), SPEC, config, end=end, progress=False)
    b = train_road_model(road_history(_roads(future)), SPEC, config, end=end, progress=False)
    x, _, _ = training_matrix(road_history(_roads(speed)), SPEC, (1, 2))
    np.testing.assert_array_equal(a.model.predict_rows(x).y, b.model.predict_rows(x).y)
    assert a.rows == b.rows
    assert int(a.validation.column.max()) + 1 <= end  # the tail lies before end too


def test_validation_tail_is_the_latest_tenth_of_the_times() -> None:
    history = road_history(_roads(_flat_with_holes(share=0.0)))
    result = train_road_model(history, SPEC, TrainConfig(horizons=(1, 2), **FAST),
                              progress=False)
    cols = np.unique(result.validation.column)
    # anchors whose 2-step target is in the data: the last tenth of them, and every later one
    full = np.arange(SPEC.min_history - 1, history.n_buckets - 2)
    first = full[-round(len(full) * 0.1)]
    assert cols.tolist() == list(range(first, history.n_buckets))
    assert result.validation.y_pred.shape == (len(result.validation.column), 2)
    assert all(b >= 1 for b in result.best_iteration.values())


def test_stride_and_sensor_sample_shrink_the_rows() -> None:
    history = road_history(_roads(_flat_with_holes(share=0.0)))
    full = train_road_model(history, SPEC, TrainConfig(horizons=(1,), **FAST), progress=False)
    sampled = train_road_model(history, SPEC,
                               TrainConfig(horizons=(1,), stride=3, max_sensors=2, **FAST),
                               progress=False)
    assert sampled.rows[1] == pytest.approx(full.rows[1] / 6, rel=0.02)
    assert len(np.unique(sampled.validation.sensor)) == 2


def test_too_little_history_is_refused() -> None:
    history = road_history(_roads(_flat_with_holes(share=0.0)[:, :20]))
    with pytest.raises(ValueError, match="anchor time"):
        train_road_model(history, SPEC, TrainConfig(horizons=(1,), **FAST), end=14,
                         progress=False)


def test_history_until_and_data_hash() -> None:
    speed = _flat_with_holes(share=0.0)
    history = road_history(_roads(speed))
    cut = history_until(history, 50)
    assert cut.n_buckets == 50 and cut.buckets[-1] == history.buckets[49]
    # the features read the engine's ring values (0.01 km/h), the targets the measurements
    np.testing.assert_array_equal(cut.measured_values("speed"), speed[:, :50])
    np.testing.assert_allclose(cut.values["speed"], speed[:, :50], atol=0.005 + 1e-5)
    raw = history_until(road_history(_roads(speed), raw=True), 50)
    np.testing.assert_array_equal(raw.values["speed"], speed[:, :50])
    same, changed = speed.copy(), speed.copy()
    changed[3, 7] += 1
    assert data_hash(_roads(speed)) == data_hash(_roads(same))
    assert data_hash(_roads(speed)) != data_hash(_roads(changed))
    assert data_hash(_roads(speed)).startswith("sha256:")


def test_config_json_round_trip_and_refusals() -> None:
    config = TrainConfig(horizons=(3, 6), params={"num_leaves": 15}, quantiles=False,
                         zero_is_missing=True, stride=2, max_sensors=100, seed=7)
    again = TrainConfig.from_dict(config.to_dict())  # params are stored merged, in full
    assert again.to_dict() == config.to_dict() and again.horizons == (3, 6)
    assert again.lgb_params() == config.lgb_params()
    assert again.lgb_params()["num_leaves"] == 15
    assert again.lgb_params("quantile", 0.1)["alpha"] == 0.1
    with pytest.raises(ValueError, match="unknown training setting 'colour'"):
        TrainConfig.from_dict({**config.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="horizons"):
        TrainConfig(horizons=(0,))


def test_intervals_are_calibrated_to_the_nominal_coverage_on_the_validation_tail() -> None:
    """Noisy roads: the quantile boosters' own P10..P90 is off nominal; after calibration the
    validation tail is covered at 80 % (±3 points) and the model keeps the margins."""
    rng = np.random.default_rng(4)
    days = 6
    t = np.arange(days * PER_DAY)
    base = 45 + 10 * np.sin(2 * np.pi * t / PER_DAY)
    speed = (base + rng.standard_t(3, (12, len(t))) * 4).astype(np.float32)
    history = road_history(_roads(speed))
    config = TrainConfig(horizons=(1, 2), max_rounds=60, threads=1, quantiles=True)
    result = train_road_model(history, SPEC, config, progress=False)
    assert set(result.model.interval_margin) == {1, 2}
    v = result.validation
    known = np.isfinite(v.y_true)
    covered = (v.y_true >= v.p10) & (v.y_true <= v.p90)
    coverage = covered[known].mean()
    assert abs(coverage - 0.8) <= 0.03, coverage
    assert np.all(v.p10 <= v.p90)
