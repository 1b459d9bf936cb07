"""Forecast metrics over the long predictions table that every backtest and replay produces.

The predictions table (one row per model x series x origin x horizon):

=================  ========================  ==============================================
column             dtype                     meaning
=================  ========================  ==============================================
``series``         str                       sensor, segment or spot id
``origin``         datetime64[ns, UTC]       the forecast's issue time
``horizon_steps``  int64 (>= 1)              buckets ahead
``target_time``    datetime64[ns, UTC]       the time the forecast is for
``y_true``         float64                   the truth; NaN = missing truth
``y_pred``         float64                   the forecast; NaN = the model gave none
``p10``, ``p90``   float64 (optional, both)  interval bounds; NaN where a model has none
``model``          str (optional)            "lightgbm", "last_value", ...; absent = "model"
=================  ========================  ==============================================

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
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from flowcast.errors import FlowcastUserError

PREDICTION_COLUMNS = ("series", "origin", "horizon_steps", "target_time", "y_true", "y_pred")
INTERVAL_COLUMNS = ("p10", "p90")
BASELINE_MODELS = ("last_value", "historical_average", "seasonal_naive")
DEFAULT_MODEL = "model"  # the model name given to a table without a ``model`` column
KEY_COLUMNS = ("model", "series", "origin", "horizon_steps")
METRIC_COLUMNS = (
    "n", "n_mape", "pred_missing", "mae", "rmse", "mape", "wape", "bias", "coverage", "width",
)
TGCN_PROTOCOL: dict[str, bool] = {"pooled_steps": True, "zero_is_missing": False}


class PredictionsError(FlowcastUserError, ValueError):
    """A predictions table that breaks the contract; the message names the column and the fix."""


# --- the predictions table -------------------------------------------------------------------

def validate_predictions(df: pd.DataFrame) -> pd.DataFrame:
    """Check a predictions table and return a normalised copy.

    The copy has a fresh RangeIndex and the canonical column order (``PREDICTION_COLUMNS``, then
    ``p10``, ``p90`` if given, then ``model``, then any extra columns unchanged); ``series`` and
    ``model`` as str, times as datetime64[ns, UTC], ``horizon_steps`` int64, values float64.
    Raises :class:`PredictionsError` (a ``ValueError``) naming the problem: a missing column, a
    wrong dtype, a naive timestamp, a missing key value, a horizon < 1, an infinite value, a p10
    above its p90, or a duplicated (model, series, origin, horizon_steps) row.
    """
    if not isinstance(df, pd.DataFrame):
        raise PredictionsError(f"predictions must be a pandas DataFrame, not {type(df).__name__}")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise PredictionsError(f"predictions lack column(s) {', '.join(missing)}; the table needs "
                               f"{', '.join(PREDICTION_COLUMNS)}")
    bounds = [c for c in INTERVAL_COLUMNS if c in df.columns]
    if len(bounds) == 1:
        raise PredictionsError(f"predictions have {bounds[0]} without its partner; "
                               "give both p10 and p90, or neither")
    df = df.reset_index(drop=True)
    out = {
        "series": _labels(df["series"], "series"),
        "origin": _utc(df["origin"], "origin"),
        "horizon_steps": _steps(df["horizon_steps"]),
        "target_time": _utc(df["target_time"], "target_time"),
    }
    for column in ("y_true", "y_pred", *bounds):
        out[column] = _floats(df[column], column)
    out["model"] = _labels(df["model"], "model") if "model" in df else DEFAULT_MODEL
    table = pd.DataFrame(out, index=df.index)
    for column in df.columns:
        if column not in table.columns:
            table[column] = df[column]
    if bounds:
        _check_bounds(table)
    _check_unique(table)
    return table


def _labels(col: pd.Series, name: str) -> pd.Series:
    """Text ids (integer ids are accepted and written as text)."""
    if col.isna().any():
        raise PredictionsError(f"{name} is missing in {int(col.isna().sum())} row(s); "
                               f"every row needs a {name}")
    if not (ptypes.is_string_dtype(col) or ptypes.is_object_dtype(col)
            or (ptypes.is_integer_dtype(col) and not ptypes.is_bool_dtype(col))):
        raise PredictionsError(f"{name} must be text ids, not {col.dtype}")
    return col.astype(str)


def _utc(col: pd.Series, name: str) -> pd.Series:
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        if ptypes.is_datetime64_dtype(col):
            raise PredictionsError(f"{name} has no time zone; localize it, e.g. "
                                   f"df['{name}'] = df['{name}'].dt.tz_localize('UTC')")
        raise PredictionsError(f"{name} must be datetime64 with a time zone, not {col.dtype}; "
                               "parse it with pd.to_datetime(..., utc=True)")
    if col.isna().any():
        raise PredictionsError(f"{name} is missing (NaT) in {int(col.isna().sum())} row(s)")
    return col.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _steps(col: pd.Series) -> pd.Series:
    if not ptypes.is_integer_dtype(col) or ptypes.is_bool_dtype(col):
        raise PredictionsError(f"horizon_steps must be integers (buckets ahead), not {col.dtype}")
    if col.isna().any():
        raise PredictionsError(f"horizon_steps is missing in {int(col.isna().sum())} row(s)")
    if (col < 1).any():
        raise PredictionsError(f"horizon_steps must be >= 1; found {int(col.min())}")
    return col.astype(np.int64)


def _floats(col: pd.Series, name: str) -> pd.Series:
    if not ptypes.is_numeric_dtype(col) or ptypes.is_bool_dtype(col):
        raise PredictionsError(f"{name} must be numeric, not {col.dtype}")
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise PredictionsError(f"{name} has {int(np.isinf(values).sum())} infinite value(s); "
                               "use NaN for a missing value")
    return pd.Series(values, index=col.index)


def _check_bounds(table: pd.DataFrame) -> None:
    crossed = (table["p10"] > table["p90"]).to_numpy()
    if crossed.any():
        first = table.loc[np.argmax(crossed)]
        raise PredictionsError(
            f"p10 exceeds p90 in {int(crossed.sum())} row(s) (first: model {first['model']}, "
            f"series {first['series']}, origin {first['origin']}); sort the quantiles per row")


def _check_unique(table: pd.DataFrame) -> None:
    repeated = table.duplicated(list(KEY_COLUMNS)).to_numpy()
    if repeated.any():
        first = table.loc[np.argmax(repeated)]
        raise PredictionsError(
            f"{int(repeated.sum())} duplicated (model, series, origin, horizon_steps) row(s) "
            f"(first: {first['model']}, {first['series']}, {first['origin']}, "
            f"{first['horizon_steps']}); keep one forecast per key")


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
    return _horizon_metrics(validate_predictions(df), mape_floor=mape_floor,
                            zero_is_missing=zero_is_missing, pooled_steps=pooled_steps)


def _horizon_metrics(df: pd.DataFrame, *, mape_floor: float, zero_is_missing: bool,
                     pooled_steps: bool) -> pd.DataFrame:
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
    return _error_by_time_of_day(df, timezone, by=by, mape_floor=mape_floor,
                                 zero_is_missing=zero_is_missing, horizon_steps=horizon_steps)


def _error_by_time_of_day(df: pd.DataFrame, timezone: str, *, by: str, mape_floor: float,
                          zero_is_missing: bool, horizon_steps: int | None) -> pd.DataFrame:
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
    return _worst_series(df, model, n, mape_floor=mape_floor, zero_is_missing=zero_is_missing,
                         horizon_steps=horizon_steps)


def _worst_series(df: pd.DataFrame, model: str, n: int | None, *, mape_floor: float,
                  zero_is_missing: bool, horizon_steps: int | None) -> pd.DataFrame:
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


# --- everything at once, and JSON ------------------------------------------------------------

@dataclass(frozen=True)
class Evaluation:
    """Every metric table of one backtest, computed from one validated predictions table."""

    predictions: pd.DataFrame  # validated (validate_predictions)
    model: str | None  # the model under test; None when the table holds only baselines
    focus: str  # the model whose series are examined: ``model``, else the best baseline
    baselines: tuple[str, ...]
    timezone: str
    interval_s: int | None
    mape_floor: float
    zero_is_missing: bool
    per_horizon: pd.DataFrame  # horizon_metrics with the masks above
    pooled: pd.DataFrame  # T-GCN protocol: steps 1..h pooled, zeros kept
    improvement: pd.DataFrame | None  # None when ``model`` is None
    time_of_day: pd.DataFrame  # by local hour, or by weekday for daily (or coarser) buckets
    worst: pd.DataFrame  # the focus model's series by MAE, all of them, worst first

    def series_metrics(self, model: str, horizon_steps: int | None = None) -> pd.DataFrame:
        """Per-series metrics of ``model`` (all horizons pooled unless ``horizon_steps`` picks
        one), worst MAE first; columns as :func:`horizon_metrics`."""
        return _worst_series(self.predictions, model, None, mape_floor=self.mape_floor,
                             zero_is_missing=self.zero_is_missing, horizon_steps=horizon_steps)


def pick_model(models: Sequence[str], model: str | None,
               baselines: Sequence[str] = BASELINE_MODELS) -> str | None:
    """The model under test: ``model`` if given (it must be in ``models``), else the only
    non-baseline model, "lightgbm" if there are several, None if there are none."""
    present = sorted(set(models))
    if model is not None:
        if model not in present:
            raise FlowcastUserError(f"no predictions for model {model!r}; the table has "
                                    f"{', '.join(present) or 'no models'}")
        return model
    candidates = [m for m in present if m not in baselines]
    if len(candidates) > 1 and "lightgbm" not in candidates:
        raise FlowcastUserError(f"several models ({', '.join(candidates)}); "
                                "name the one under test with model=")
    if len(candidates) > 1:
        return "lightgbm"
    return candidates[0] if candidates else None


def evaluate(predictions: pd.DataFrame, *, timezone: str = "UTC", interval_s: int | None = None,
             model: str | None = None, baselines: Sequence[str] = BASELINE_MODELS,
             mape_floor: float = 1.0, zero_is_missing: bool = False) -> Evaluation:
    """Validate a predictions table once and compute every table a backtest reports.

    ``interval_s`` is the bucket length in seconds (for horizon labels, and to score daily data
    by weekday rather than hour); ``model`` defaults to :func:`pick_model`'s choice.
    """
    df = validate_predictions(predictions)
    if df.empty:
        raise PredictionsError("the predictions table has no rows; nothing to evaluate")
    if interval_s is not None and interval_s <= 0:
        raise FlowcastUserError(f"interval_s must be a positive number of seconds, not "
                                f"{interval_s}")
    baselines = tuple(baselines)
    model = pick_model(df["model"].unique(), model, baselines)
    opts = {"mape_floor": mape_floor, "zero_is_missing": zero_is_missing}
    per_horizon = _horizon_metrics(df, pooled_steps=False, **opts)
    focus = model if model is not None else str(
        per_horizon["mae"].groupby(level="model").mean().fillna(np.inf).idxmin())
    by = "weekday" if interval_s is not None and interval_s >= 86400 else "hour"
    return Evaluation(
        predictions=df, model=model, focus=focus, baselines=baselines, timezone=timezone,
        interval_s=interval_s, **opts, per_horizon=per_horizon,
        pooled=_horizon_metrics(df, mape_floor=mape_floor, **TGCN_PROTOCOL),
        improvement=(None if model is None
                     else improvement_over_baselines(per_horizon, model, baselines)),
        time_of_day=_error_by_time_of_day(df, timezone, by=by, horizon_steps=None, **opts),
        worst=_worst_series(df, focus, None, horizon_steps=None, **opts),
    )


def _jsonable(value: Any) -> Any:
    """Plain JSON types: NaN and infinities become None, numpy scalars and times plain values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, pd.Timestamp | np.datetime64):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def records(table: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A metrics table as JSON-ready records, its index levels as leading fields."""
    if table is None:
        return []
    return _jsonable(table.reset_index().to_dict(orient="records"))


def metrics_json(evaluation: Evaluation, meta: dict[str, Any] | None = None,
                 n_worst: int = 10) -> dict[str, Any]:
    """Everything in ``metrics.json``: the caller's ``meta`` verbatim, what was scored (span,
    horizons, models, protocol) and every metrics table as records. JSON-serialisable with
    ``allow_nan=False``: NaN is None."""
    ev = evaluation
    df = ev.predictions
    improvement = ev.improvement
    beats = None if improvement is None or improvement["best_baseline"].isna().all() else bool(
        improvement["beats_all_baselines"].all())
    horizons = sorted(int(h) for h in df["horizon_steps"].unique())
    doc = {
        "format": "flowcast-backtest-metrics/1",
        "meta": dict(meta or {}),
        "span": {"first_origin": df["origin"].min(), "last_origin": df["origin"].max(),
                 "first_target": df["target_time"].min(), "last_target": df["target_time"].max()},
        "rows": len(df),
        "series": int(df["series"].nunique()),
        "interval_s": ev.interval_s,
        "horizons_steps": horizons,
        "horizons_s": None if ev.interval_s is None else [h * ev.interval_s for h in horizons],
        "models": sorted(df["model"].unique()),
        "model": ev.model,
        "baselines": list(ev.baselines),
        "protocol": {"mape_floor": ev.mape_floor, "zero_is_missing": ev.zero_is_missing,
                     "timezone": ev.timezone, "per_horizon": "each horizon scored on its own",
                     "tgcn_pooled": "steps 1..h pooled, zeros not masked"},
        "beats_all_baselines_at_every_horizon": beats,
        "per_horizon": records(ev.per_horizon),
        "tgcn_pooled": records(ev.pooled),
        "improvement": records(improvement),
        "time_of_day": records(ev.time_of_day),
        "worst_series": {"model": ev.focus, "rows": records(ev.worst.head(n_worst))},
    }
    return _jsonable(doc)
