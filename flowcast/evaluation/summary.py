"""Every metric table of one backtest or replay at once (:class:`Evaluation`), and as JSON.

:func:`evaluate` validates a predictions table once and computes what the reports show;
:func:`metrics_json` is ``metrics.json``; :func:`records` turns any metrics table into JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.metrics import (
    BASELINE_MODELS,
    TGCN_PROTOCOL,
    horizon_table,
    improvement_over_baselines,
    series_table,
    time_of_day_table,
)
from flowcast.evaluation.predictions import PredictionsError, validate_predictions


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
    variable: str | None = None  # what is forecast ("speed"), for labels
    unit: str | None = None  # its unit ("km/h"): of MAE, RMSE, bias, width and the truths

    def series_metrics(self, model: str, horizon_steps: int | None = None) -> pd.DataFrame:
        """Per-series metrics of ``model`` (all horizons pooled unless ``horizon_steps`` picks
        one), worst MAE first; columns as :func:`horizon_metrics`."""
        return series_table(self.predictions, model, None, mape_floor=self.mape_floor,
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
             mape_floor: float = 1.0, zero_is_missing: bool = False,
             variable: str | None = None, unit: str | None = None) -> Evaluation:
    """Validate a predictions table once and compute every table a backtest reports.

    ``interval_s`` is the bucket length in seconds (for horizon labels, and to score daily data
    by weekday rather than hour); ``model`` defaults to :func:`pick_model`'s choice;
    ``variable`` and ``unit`` (``"speed"``, ``"km/h"``) label the tables and plots.
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
    per_horizon = horizon_table(df, pooled_steps=False, **opts)
    focus = model if model is not None else str(
        per_horizon["mae"].groupby(level="model").mean().fillna(np.inf).idxmin())
    by = "weekday" if interval_s is not None and interval_s >= 86400 else "hour"
    return Evaluation(
        predictions=df, model=model, focus=focus, baselines=baselines, timezone=timezone,
        interval_s=interval_s, **opts, per_horizon=per_horizon,
        pooled=horizon_table(df, mape_floor=mape_floor, **TGCN_PROTOCOL),
        improvement=(None if model is None
                     else improvement_over_baselines(per_horizon, model, baselines)),
        time_of_day=time_of_day_table(df, timezone, by=by, horizon_steps=None, **opts),
        worst=series_table(df, focus, None, horizon_steps=None, **opts),
        variable=variable, unit=unit,
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
        "variable": ev.variable,
        "unit": ev.unit,
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
