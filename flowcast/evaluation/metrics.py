"""Forecast metrics over the long predictions table (:mod:`flowcast.evaluation.predictions`).

Scoring rules (docs/backtest-report.md has the formulas):

- a row is *scored* when ``y_true`` and ``y_pred`` are both present; with ``zero_is_missing`` an
  exact-zero truth counts as missing too (SZ-taxi writes 0 for "no data");
- MAPE additionally drops truths with ``|y_true| < mape_floor`` (default 1.0, in the variable's
  own units) so near-zero truths cannot blow it up; every other metric keeps them;
- coverage and width use the scored rows whose ``p10`` and ``p90`` are both present;
- ``pooled_steps=True`` is the T-GCN protocol: the figure at horizon ``h`` pools every scored
  row with ``horizon_steps <= h``.

Every metric is a ratio of sums over rows, so per-group sums are computed once and pooling is a
cumulative sum over horizons. MAPE, WAPE and coverage are fractions (0.05 = 5 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.predictions import INTERVAL_COLUMNS, validate_predictions

BASELINE_MODELS = ("last_value", "historical_average", "seasonal_naive")
METRIC_COLUMNS = (
    "n", "n_mape", "pred_missing", "mae", "rmse", "mape", "wape", "bias", "coverage", "width",
)
TGCN_PROTOCOL: dict[str, bool] = {"pooled_steps": True, "zero_is_missing": False}


# --- per-row contributions and their sums ----------------------------------------------------

def _contributions(df: pd.DataFrame, *, mape_floor: float,
                   zero_is_missing: bool) -> pd.DataFrame:
    """Per-row terms of every metric's sums; a row that is not scored contributes zeros."""
    if not mape_floor > 0:
        raise FlowcastUserError(f"mape_floor must be > 0 (got {mape_floor}); it is the smallest "
                                "|truth| that MAPE divides by")
    y = df["y_true"].to_numpy(np.float64)
    pred = df["y_pred"].to_numpy(np.float64)
    truth = ~np.isnan(y)
    if zero_is_missing:
        truth &= y != 0
    scored = truth & ~np.isnan(pred)
    err = np.where(scored, pred - y, 0.0)
    abs_y = np.where(scored, np.abs(y), 0.0)
    in_mape = scored & (abs_y >= mape_floor)
    terms = {
        "n": scored.astype(np.int64),
        "n_mape": in_mape.astype(np.int64),
        "pred_missing": (truth & np.isnan(pred)).astype(np.int64),
        "abs_err": np.abs(err),
        "sq_err": err * err,
        "err": err,
        "abs_y": abs_y,
        "ape": np.abs(err) / np.where(in_mape, abs_y, 1.0) * in_mape,
    }
    terms.update(_interval_terms(df, y, scored))
    return pd.DataFrame(terms, index=df.index)


def _interval_terms(df: pd.DataFrame, y: np.ndarray, scored: np.ndarray) -> dict[str, Any]:
    if not set(INTERVAL_COLUMNS) <= set(df.columns):
        zeros = np.zeros(len(df))
        return {"n_interval": zeros.astype(np.int64), "inside": zeros, "width_sum": zeros}
    lo = df["p10"].to_numpy(np.float64)
    hi = df["p90"].to_numpy(np.float64)
    usable = scored & ~np.isnan(lo) & ~np.isnan(hi)
    return {
        "n_interval": usable.astype(np.int64),
        "inside": (usable & (y >= lo) & (y <= hi)).astype(np.float64),
        "width_sum": np.where(usable, hi - lo, 0.0),
    }


def _ratio(num: pd.Series, den: pd.Series) -> np.ndarray:
    """num / den, NaN where den is 0 (a metric over no points is undefined, not 0 or inf)."""
    den_values = den.to_numpy(np.float64)
    safe = np.where(den_values > 0, den_values, 1.0)
    return np.where(den_values > 0, num.to_numpy(np.float64) / safe, np.nan)


def _finish(sums: pd.DataFrame) -> pd.DataFrame:
    """Metrics from per-group sums (the output of :func:`_contributions`, summed)."""
    n = sums["n"]
    return pd.DataFrame({
        "n": n.astype(np.int64),
        "n_mape": sums["n_mape"].astype(np.int64),
        "pred_missing": sums["pred_missing"].astype(np.int64),
        "mae": _ratio(sums["abs_err"], n),
        "rmse": np.sqrt(_ratio(sums["sq_err"], n)),
        "mape": _ratio(sums["ape"], sums["n_mape"]),
        "wape": _ratio(sums["abs_err"], sums["abs_y"]),
        "bias": _ratio(sums["err"], n),
        "coverage": _ratio(sums["inside"], sums["n_interval"]),
        "width": _ratio(sums["width_sum"], sums["n_interval"]),
    }, index=sums.index)


def _grouped(df: pd.DataFrame, keys: list[str], *, mape_floor: float,
             zero_is_missing: bool) -> pd.DataFrame:
    """Per-group sums of the contributions, groups sorted by ``keys``."""
    terms = _contributions(df, mape_floor=mape_floor, zero_is_missing=zero_is_missing)
    if df.empty:
        index = pd.MultiIndex.from_arrays([[] for _ in keys], names=keys)
        return pd.DataFrame(0.0, index=index if len(keys) > 1 else pd.Index([], name=keys[0]),
                            columns=terms.columns)
    by = [df[k] for k in keys]
    return terms.groupby(by, sort=True).sum()


# --- metric tables ---------------------------------------------------------------------------

def horizon_metrics(df: pd.DataFrame, *, mape_floor: float = 1.0, zero_is_missing: bool = False,
                    pooled_steps: bool = False) -> pd.DataFrame:
    """Metrics per model and horizon.

    Returns a DataFrame indexed by (``model``, ``horizon_steps``) with columns ``n`` (scored
    points), ``n_mape`` (points in MAPE), ``pred_missing`` (truth present, forecast NaN),
    ``mae``, ``rmse``, ``bias`` (mean of y_pred - y_true) in the variable's units, ``mape``,
    ``wape``, ``coverage`` (fractions), ``width`` (mean p90 - p10, units). Undefined metrics
    (no points) are NaN. ``pooled_steps=True`` pools horizons 1..h into the figure at h
    (the T-GCN protocol, used with ``zero_is_missing=False``).
    """
    return horizon_table(validate_predictions(df), mape_floor=mape_floor,
                            zero_is_missing=zero_is_missing, pooled_steps=pooled_steps)


def horizon_table(df: pd.DataFrame, *, mape_floor: float, zero_is_missing: bool,
                  pooled_steps: bool) -> pd.DataFrame:
    """:func:`horizon_metrics` of a table :func:`validate_predictions` returned."""
    sums = _grouped(df, ["model", "horizon_steps"], mape_floor=mape_floor,
                    zero_is_missing=zero_is_missing)
    if pooled_steps and not sums.empty:
        sums = sums.groupby(level="model", sort=False).cumsum()
    return _finish(sums)


def improvement_over_baselines(table: pd.DataFrame, model: str = "lightgbm",
                               baselines: Sequence[str] = BASELINE_MODELS) -> pd.DataFrame:
    """The model against the best baseline, per horizon, from a :func:`horizon_metrics` table.

    Indexed by ``horizon_steps`` (the model's horizons). Columns: ``best_baseline`` (the
    baseline with the lowest RMSE there; None when no baseline has scored points), ``rmse``,
    ``baseline_rmse``, ``rmse_reduction`` (1 - rmse / baseline_rmse: 0.1 = 10 % lower),
    ``mae``, ``baseline_mae`` (the same baseline's), ``mae_reduction``,
    ``beats_all_baselines`` (RMSE and MAE strictly below every baseline's with scored points;
    False when there are none) and ``loses_to`` (comma-separated baselines at least as good in
    RMSE or MAE).
    """
    models = table.index.get_level_values("model")
    if model not in set(models):
        raise FlowcastUserError(f"no metrics for model {model!r}; the table has "
                                f"{', '.join(sorted(set(models))) or 'no models'}")
    own = table.xs(model, level="model")
    base = table[models.isin(list(baselines)) & (table["n"] > 0).to_numpy()].reset_index()
    rmse = base.pivot(index="horizon_steps", columns="model", values="rmse").reindex(own.index)
    mae = base.pivot(index="horizon_steps", columns="model", values="mae").reindex(
        index=own.index, columns=rmse.columns)
    names = rmse.columns.to_numpy(dtype=object)
    r, a = rmse.to_numpy(np.float64), mae.to_numpy(np.float64)
    m_rmse, m_mae = own["rmse"].to_numpy(np.float64), own["mae"].to_numpy(np.float64)
    # a baseline without a value at a horizon can't be lost to (NaN comparisons are False)
    worse = (r <= m_rmse[:, None]) | (a <= m_mae[:, None])
    best_name, base_rmse, base_mae = _best_baseline(names, r, a)
    return pd.DataFrame({
        "best_baseline": best_name,
        "rmse": m_rmse,
        "baseline_rmse": base_rmse,
        "rmse_reduction": 1.0 - m_rmse / base_rmse,
        "mae": m_mae,
        "baseline_mae": base_mae,
        "mae_reduction": 1.0 - m_mae / base_mae,
        "beats_all_baselines": (~np.isnan(base_rmse) & np.isfinite(m_rmse) & np.isfinite(m_mae)
                                & ~worse.any(axis=1)),
        "loses_to": [", ".join(names[w]) for w in worse],
    }, index=own.index)


def _best_baseline(names: np.ndarray, rmse: np.ndarray,
                   mae: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (horizon): the name, RMSE and MAE of the lowest-RMSE baseline; None/NaN when
    no baseline has a value. ``rmse`` and ``mae`` are (horizons, baselines)."""
    rows = rmse.shape[0]
    if not len(names):
        return np.full(rows, None, dtype=object), np.full(rows, np.nan), np.full(rows, np.nan)
    has = ~np.isnan(rmse).all(axis=1)
    best = np.where(np.isnan(rmse), np.inf, rmse).argmin(axis=1)
    index = np.arange(rows)
    return (np.where(has, names[best], None), np.where(has, rmse[index, best], np.nan),
            np.where(has, mae[index, best], np.nan))


def _local(times: pd.Series, timezone: str) -> pd.Series:
    """UTC times converted to ``timezone`` (an IANA name)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as err:
        raise FlowcastUserError(f"unknown time zone {timezone!r}; give an IANA name such as "
                                "'Asia/Shanghai'") from err
    return times.dt.tz_convert(zone)


def error_by_time_of_day(df: pd.DataFrame, timezone: str, *,
                         by: Literal["hour", "weekday"] = "hour", mape_floor: float = 1.0,
                         zero_is_missing: bool = False,
                         horizon_steps: int | None = None) -> pd.DataFrame:
    """Metrics per model and local hour (0-23) or weekday (0 = Monday) of ``target_time``.

    ``timezone`` is an IANA name (e.g. "Asia/Shanghai"). All horizons are pooled unless
    ``horizon_steps`` picks one. Indexed by (``model``, ``hour`` or ``weekday``); columns as
    :func:`horizon_metrics`.
    """
    df = validate_predictions(df)
    return time_of_day_table(df, timezone, by=by, mape_floor=mape_floor,
                                 zero_is_missing=zero_is_missing, horizon_steps=horizon_steps)


def time_of_day_table(df: pd.DataFrame, timezone: str, *, by: str, mape_floor: float,
                      zero_is_missing: bool, horizon_steps: int | None) -> pd.DataFrame:
    """:func:`error_by_time_of_day` of a table :func:`validate_predictions` returned."""
    if by not in ("hour", "weekday"):
        raise FlowcastUserError(f"by must be 'hour' or 'weekday', not {by!r}")
    if horizon_steps is not None:
        df = df[df["horizon_steps"] == horizon_steps]
    local = _local(df["target_time"], timezone)
    df = df.assign(**{by: local.dt.hour if by == "hour" else local.dt.day_of_week})
    return _finish(_grouped(df, ["model", by], mape_floor=mape_floor,
                            zero_is_missing=zero_is_missing))


def worst_series(df: pd.DataFrame, model: str, n: int | None = 10, *, mape_floor: float = 1.0,
                 zero_is_missing: bool = False, horizon_steps: int | None = None) -> pd.DataFrame:
    """The ``n`` series with the highest MAE for ``model`` (all series when ``n`` is None).

    All horizons pooled unless ``horizon_steps`` picks one. Indexed by ``series``, sorted by MAE
    descending (series with no scored point last); columns as :func:`horizon_metrics`.
    """
    df = validate_predictions(df)
    return series_table(df, model, n, mape_floor=mape_floor, zero_is_missing=zero_is_missing,
                         horizon_steps=horizon_steps)


def series_table(df: pd.DataFrame, model: str, n: int | None, *, mape_floor: float,
                 zero_is_missing: bool, horizon_steps: int | None) -> pd.DataFrame:
    """:func:`worst_series` of a table :func:`validate_predictions` returned."""
    if model not in set(df["model"]):
        raise FlowcastUserError(f"no predictions for model {model!r}; the table has "
                                f"{', '.join(sorted(set(df['model']))) or 'no models'}")
    rows = df["model"] == model
    if horizon_steps is not None:
        rows &= df["horizon_steps"] == horizon_steps
    table = _finish(_grouped(df[rows], ["series"], mape_floor=mape_floor,
                             zero_is_missing=zero_is_missing))
    table = table.sort_values("mae", ascending=False, na_position="last", kind="stable")
    return table if n is None else table.head(n)
