"""Forecast metrics against hand-computed values and a plain numpy reference.

The tiny table: 2 series (A, B) x 3 origins x 2 horizons x 2 models (lightgbm, last_value),
hourly buckets. Each truth and forecast is written out below so every figure can be checked
with pencil and paper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from predictions_harness import NAN, tiny

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.metrics import (
    error_by_time_of_day,
    horizon_metrics,
    improvement_over_baselines,
    worst_series,
)
from flowcast.evaluation.report_text import format_table, horizon_label


def reference(df: pd.DataFrame, *, mape_floor: float, zero_is_missing: bool,
              pooled: bool) -> dict[tuple[str, int], dict[str, float]]:
    """Straightforward numpy: select each group's rows, mask, and apply the formulas."""
    out = {}
    for model in df["model"].unique():
        for h in sorted(df["horizon_steps"].unique()):
            g = df[(df["model"] == model)
                   & ((df["horizon_steps"] <= h) if pooled else (df["horizon_steps"] == h))]
            y, p = g["y_true"].to_numpy(), g["y_pred"].to_numpy()
            keep = ~np.isnan(y) & ~np.isnan(p)
            if zero_is_missing:
                keep &= y != 0
            y, p, lo, hi = y[keep], p[keep], g["p10"].to_numpy()[keep], g["p90"].to_numpy()[keep]
            e = p - y
            big = np.abs(y) >= mape_floor
            band = ~np.isnan(lo) & ~np.isnan(hi)
            out[(model, h)] = {
                "n": len(y),
                "mae": np.mean(np.abs(e)) if len(y) else NAN,
                "rmse": np.sqrt(np.mean(e**2)) if len(y) else NAN,
                "bias": np.mean(e) if len(y) else NAN,
                "mape": np.mean(np.abs(e[big]) / np.abs(y[big])) if big.any() else NAN,
                "wape": np.sum(np.abs(e)) / np.sum(np.abs(y)) if np.abs(y).sum() else NAN,
                "coverage": (np.mean((y[band] >= lo[band]) & (y[band] <= hi[band]))
                             if band.any() else NAN),
                "width": np.mean(hi[band] - lo[band]) if band.any() else NAN,
            }
    return out


def test_each_metric_matches_the_hand_computed_value() -> None:
    t = horizon_metrics(tiny())
    lgb1, lgb2 = t.loc[("lightgbm", 1)], t.loc[("lightgbm", 2)]
    # h=1 errors (pred - truth): A: +1, -2, +1; B: +1, +1, 0
    assert lgb1["n"] == 6
    assert lgb1["mae"] == pytest.approx(6 / 6)
    assert lgb1["rmse"] == pytest.approx(np.sqrt(8 / 6))
    assert lgb1["bias"] == pytest.approx(2 / 6)
    assert lgb1["wape"] == pytest.approx(6 / 32.5)  # sum |y| = 10 + 12 + 0 + 0.5 + 4 + 6
    # MAPE leaves out |y| < 1 (the 0 and the 0.5): |e|/|y| = 1/10, 2/12, 1/4, 0/6
    assert lgb1["n_mape"] == 4
    assert lgb1["mape"] == pytest.approx((0.1 + 2 / 12 + 0.25 + 0) / 4)
    # h=2: A o1's truth is NaN; errors +1, 0, 0, 0, -3
    assert lgb2["n"] == 5
    assert lgb2["mae"] == pytest.approx(4 / 5)
    assert lgb2["rmse"] == pytest.approx(np.sqrt(10 / 5))
    assert lgb2["bias"] == pytest.approx(-2 / 5)
    assert lgb2["wape"] == pytest.approx(4 / 35)
    assert lgb2["mape"] == pytest.approx((1 / 12 + 3 / 5) / 5)
    # last_value h=1: errors -1, -2, +12, 0, 0, 0
    assert t.loc[("last_value", 1), "mae"] == pytest.approx(15 / 6)
    assert t.loc[("last_value", 1), "rmse"] == pytest.approx(np.sqrt(149 / 6))


@pytest.mark.parametrize("zero_is_missing", [False, True])
@pytest.mark.parametrize("pooled", [False, True])
@pytest.mark.parametrize("mape_floor", [1.0, 0.25, 7.0])
def test_every_metric_equals_the_numpy_reference(zero_is_missing: bool, pooled: bool,
                                                 mape_floor: float) -> None:
    df = tiny()
    t = horizon_metrics(df, mape_floor=mape_floor, zero_is_missing=zero_is_missing,
                        pooled_steps=pooled)
    ref = reference(df, mape_floor=mape_floor, zero_is_missing=zero_is_missing, pooled=pooled)
    assert set(t.index) == set(ref)
    for key, expected in ref.items():
        for metric, value in expected.items():
            np.testing.assert_allclose(t.loc[key, metric], value, rtol=1e-12, atol=0,
                                       err_msg=f"{key} {metric}")


def test_zero_is_missing_drops_only_exact_zeros() -> None:
    t = horizon_metrics(tiny(), zero_is_missing=True)
    # lightgbm h=1 without A o2 (truth 0): errors +1, -2, +1, +1, 0 (B's 0.5 stays)
    assert t.loc[("lightgbm", 1), "n"] == 5
    assert t.loc[("lightgbm", 1), "mae"] == pytest.approx(5 / 5)
    assert t.loc[("lightgbm", 1), "rmse"] == pytest.approx(np.sqrt(7 / 5))
    assert t.loc[("lightgbm", 1), "bias"] == pytest.approx(1 / 5)


def test_mape_floor_changes_mape_and_nothing_else() -> None:
    low, high = horizon_metrics(tiny(), mape_floor=0.1), horizon_metrics(tiny(), mape_floor=1.0)
    others = ["n", "mae", "rmse", "bias", "wape", "coverage", "width"]
    pd.testing.assert_frame_equal(low[others], high[others])
    # floor 0.1 keeps B's 0.5 (|e|/|y| = 1/0.5 = 2) but still drops the exact 0
    assert low.loc[("lightgbm", 1), "n_mape"] == 5
    assert low.loc[("lightgbm", 1), "mape"] == pytest.approx((0.1 + 2 / 12 + 0.25 + 0 + 2) / 5)


def test_pooled_steps_pools_horizons_one_to_h_and_keeps_zeros() -> None:
    t = horizon_metrics(tiny(), pooled_steps=True)
    pd.testing.assert_series_equal(t.loc[("lightgbm", 1)], horizon_metrics(tiny()).loc[
        ("lightgbm", 1)])
    # h=2 pools h=1 (6 points, sum|e| 6, sum e^2 8) and h=2 (5 points, 4, 10)
    assert t.loc[("lightgbm", 2), "n"] == 11
    assert t.loc[("lightgbm", 2), "mae"] == pytest.approx(10 / 11)
    assert t.loc[("lightgbm", 2), "rmse"] == pytest.approx(np.sqrt(18 / 11))


def test_interval_coverage_and_width() -> None:
    t = horizon_metrics(tiny())
    # h=1: inside A o1, A o2 (0 on the lower bound counts), B o1 (bound), B o2; widths 1,4,2,1,2,2
    assert t.loc[("lightgbm", 1), "coverage"] == pytest.approx(4 / 6)
    assert t.loc[("lightgbm", 1), "width"] == pytest.approx(12 / 6)
    # h=2: A o1 has no truth; inside A o0, A o2, B o0; widths 2, 2, 2, 0.5, 2
    assert t.loc[("lightgbm", 2), "coverage"] == pytest.approx(3 / 5)
    assert t.loc[("lightgbm", 2), "width"] == pytest.approx(8.5 / 5)
    assert np.isnan(t.loc[("last_value", 1), "coverage"])  # no intervals for the baseline
    no_bands = horizon_metrics(tiny().drop(columns=["p10", "p90"]))
    assert no_bands["coverage"].isna().all() and no_bands["width"].isna().all()


def test_missing_forecasts_are_counted_not_scored() -> None:
    t = horizon_metrics(tiny())
    # last_value h=2: B o2 forecast is NaN, A o1 truth is NaN -> 4 scored, 1 forecast missing
    assert t.loc[("last_value", 2), "n"] == 4
    assert t.loc[("last_value", 2), "pred_missing"] == 1
    assert t.loc[("last_value", 2), "mae"] == pytest.approx((3 + 4 + 3.5 + 2) / 4)
    assert t.loc[("lightgbm", 2), "pred_missing"] == 0  # a missing truth is not counted


def test_a_model_whose_truths_are_all_missing_gets_nan_not_zero() -> None:
    df = tiny()
    df.loc[df["model"] == "lightgbm", "y_true"] = NAN
    t = horizon_metrics(df)
    lgb = t.xs("lightgbm", level="model")
    assert (lgb["n"] == 0).all()
    assert lgb[["mae", "rmse", "mape", "wape", "bias", "coverage", "width"]].isna().all().all()
    imp = improvement_over_baselines(t, "lightgbm", ["last_value"])
    assert not imp["beats_all_baselines"].any()
    assert np.isnan(imp["rmse_reduction"]).all()


def test_an_empty_table_gives_an_empty_metrics_table() -> None:
    t = horizon_metrics(tiny().iloc[:0])
    assert t.empty
    assert list(t.index.names) == ["model", "horizon_steps"]
    assert list(t.columns)[:5] == ["n", "n_mape", "pred_missing", "mae", "rmse"]


def metrics_table(values: dict[tuple[str, int], tuple[float, float, int]]) -> pd.DataFrame:
    """A horizon_metrics-shaped table from (model, horizon) -> (rmse, mae, n)."""
    index = pd.MultiIndex.from_tuples(list(values), names=["model", "horizon_steps"])
    rmse, mae, n = zip(*values.values(), strict=True)
    return pd.DataFrame({"n": n, "mae": mae, "rmse": rmse}, index=index)


def test_improvement_over_the_best_baseline() -> None:
    table = metrics_table({
        ("lightgbm", 1): (2.0, 1.5, 9), ("lightgbm", 2): (3.0, 2.5, 9),
        ("lightgbm", 3): (1.0, 1.0, 9),
        ("last_value", 1): (4.0, 3.0, 9), ("last_value", 2): (2.9, 2.6, 9),
        ("last_value", 3): (2.0, 2.0, 9),
        ("historical_average", 1): (2.5, 1.4, 9), ("historical_average", 2): (NAN, NAN, 0),
        ("historical_average", 3): (3.0, 3.0, 9),
        ("other_model", 1): (0.1, 0.1, 9),  # not a baseline: ignored
    })
    imp = improvement_over_baselines(table, "lightgbm")
    assert list(imp.index) == [1, 2, 3]
    assert list(imp["best_baseline"]) == ["historical_average", "last_value", "last_value"]
    np.testing.assert_allclose(imp["rmse_reduction"], [1 - 2 / 2.5, 1 - 3 / 2.9, 0.5])
    np.testing.assert_allclose(imp["mae_reduction"], [1 - 1.5 / 1.4, 1 - 2.5 / 2.6, 0.5])
    # h=1: lower RMSE but higher MAE than historical_average; h=2: higher RMSE than last_value
    assert list(imp["beats_all_baselines"]) == [False, False, True]
    assert list(imp["loses_to"]) == ["historical_average", "last_value", ""]


def test_improvement_without_baselines_says_so() -> None:
    imp = improvement_over_baselines(metrics_table({("lightgbm", 1): (2.0, 1.5, 9)}), "lightgbm")
    assert imp["best_baseline"].isna().all()
    assert not imp["beats_all_baselines"].any()
    with pytest.raises(FlowcastUserError, match="no metrics for model 'xgb'"):
        improvement_over_baselines(metrics_table({("lightgbm", 1): (2.0, 1.5, 9)}), "xgb")


def test_error_by_local_hour() -> None:
    # targets at 01:00..04:00 UTC are 09:00..12:00 in Shanghai (UTC+8)
    t = error_by_time_of_day(tiny(), "Asia/Shanghai")
    assert sorted(t.xs("lightgbm", level="model").index) == [9, 10, 11, 12]
    # lightgbm at 10:00 local (02:00 UTC): A o0 h2 (+1), A o1 h1 (-2), B o0 h2 (0), B o1 h1 (+1)
    row = t.loc[("lightgbm", 10)]
    assert row["n"] == 4
    assert row["mae"] == pytest.approx(4 / 4)
    assert row["rmse"] == pytest.approx(np.sqrt(6 / 4))
    assert row["bias"] == pytest.approx(0.0)
    weekday = error_by_time_of_day(tiny(), "Asia/Shanghai", by="weekday")
    assert list(weekday.xs("lightgbm", level="model").index) == [0]  # 2024-01-01 is a Monday
    with pytest.raises(FlowcastUserError, match="unknown time zone"):
        error_by_time_of_day(tiny(), "Mars/Olympus")


def test_worst_series_ranks_by_mae() -> None:
    w = worst_series(tiny(), "last_value")
    # A: |e| = 1, 3, 2, 12, 4 (o1 h2 has no truth) -> 22/5; B: 0, 3.5, 0, 2, 0 -> 5.5/5
    assert list(w.index) == ["A", "B"]
    np.testing.assert_allclose(w["mae"], [22 / 5, 5.5 / 5])
    assert list(worst_series(tiny(), "last_value", n=1, horizon_steps=1).index) == ["A"]
    with pytest.raises(FlowcastUserError, match="no predictions for model"):
        worst_series(tiny(), "nope")


def test_bad_mape_floor_is_a_user_error() -> None:
    with pytest.raises(FlowcastUserError, match="mape_floor must be > 0"):
        horizon_metrics(tiny(), mape_floor=0)


def test_format_table_marks_the_best_and_gives_the_verdict() -> None:
    text = format_table(horizon_metrics(tiny()), interval_s=900)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["horizon", "model", "n", "MAE"]
    first = next(line for line in lines if line.startswith("15 min") and "lightgbm" in line)
    assert "1.000*" in first  # lightgbm's MAE at h=1 is the best
    assert "lightgbm beats every baseline at every horizon." in text
    assert "15 min: RMSE 1.155 vs 4.983 (last_value), 76.8% lower" in text
    df = tiny()
    df.loc[(df["model"] == "lightgbm") & (df["horizon_steps"] == 2), "y_pred"] += 50
    worse = format_table(horizon_metrics(df), interval_s=900)
    assert "lightgbm does NOT beat every baseline: not at 30 min." in worse
    assert "loses to last_value" in worse


def test_horizon_labels() -> None:
    assert [horizon_label(h, 900) for h in (1, 4, 8, 96)] == ["15 min", "60 min", "2 h", "1 d"]
    assert horizon_label(7, 86400) == "7 d"
    assert horizon_label(3, None) == "h=3"
