"""Rows of the long predictions table (:mod:`flowcast.evaluation.predictions`): a model's
forecasts at anchors, and every road baseline's from the same past.

The baselines read only columns up to each origin: last value, historical average (same time
of day over 7 days), seasonal naive (a day ago) and profile-adjusted persistence (the last value
moved by the 7-day mean daily profile from now to the target time). An origin is the end of an
anchor bucket; a row's ``target_time`` is the end of the bucket ``h`` after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flowcast.evaluation.metrics import BASELINE_MODELS
from flowcast.evaluation.predictions import validate_predictions
from flowcast.models.baselines import (
    LastValue,
    default_baselines,
    profile_adjusted_persistence,
)
from flowcast.models.forecaster import Forecaster
from flowcast.models.roads.training import Validation

if TYPE_CHECKING:
    import xarray as xr

PROFILE_PERSISTENCE = "profile_persistence"
ROAD_BASELINES = (*BASELINE_MODELS, PROFILE_PERSISTENCE)
"""Every baseline a road backtest scores (the model must beat all of them)."""
PROFILE_DAYS = 7
_CHUNK_VALUES = 20_000_000  # float32 values per baseline window chunk (80 MB)



@dataclass(frozen=True)
class Grid:
    """The dataset's axes for building rows: sensor ``ids`` ``(N,)``, bucket start ``times``
    ``(T,)`` datetime64[ns] UTC, ``interval_s``, and the truth ``values`` ``(N, T)`` as the
    scoring sees it (zeros kept)."""

    ids: np.ndarray
    times: np.ndarray
    interval_s: int
    values: np.ndarray

    @classmethod
    def from_roads(cls, roads: xr.Dataset, target: str) -> Grid:
        """The grid of a road dataset for ``target``."""
        return cls(np.asarray(roads["sensor"].values).astype(str),
                   np.asarray(roads["time"].values).astype("datetime64[ns]"),
                   int(roads.attrs["interval_s"]),
                   np.asarray(roads[target].values, np.float32))


def forecast_rows(grid: Grid, sensor: np.ndarray, column: np.ndarray, horizons: Sequence[int],
                  y_pred: np.ndarray, model: str, *, p10: np.ndarray | None = None,
                  p90: np.ndarray | None = None, y_true: np.ndarray | None = None,
                  last_target: int | None = None) -> pd.DataFrame:
    """Long rows of forecasts ``y_pred`` ``(R, H)`` made at anchors (``sensor``, ``column``)
    ``(R,)``: one row per anchor and horizon whose target column is at most ``last_target``
    (default the last). ``y_true`` ``(R, H)`` defaults to the grid's values at the targets."""
    h = np.asarray(horizons, np.int64)
    t = len(grid.times)
    last = t - 1 if last_target is None else int(last_target)
    target = column[:, None].astype(np.int64) + h[None, :]
    keep = target <= last
    rows, steps = np.nonzero(keep)
    tgt = target[rows, steps]
    truth = (grid.values[sensor[rows], tgt] if y_true is None else y_true[rows, steps])
    step = np.timedelta64(grid.interval_s, "s")
    origin = grid.times[column[rows]] + step
    out = {
        "series": grid.ids[sensor[rows]],
        "origin": pd.to_datetime(origin).tz_localize("UTC"),
        "horizon_steps": h[steps],
        "target_time": pd.to_datetime(origin + h[steps] * step).tz_localize("UTC"),
        "y_true": truth.astype(np.float64),
        "y_pred": y_pred[rows, steps].astype(np.float64),
    }
    if p10 is not None and p90 is not None:
        out["p10"] = p10[rows, steps].astype(np.float64)
        out["p90"] = p90[rows, steps].astype(np.float64)
    out["model"] = model
    return pd.DataFrame(out)


def baseline_forecasts(values: np.ndarray, origins: np.ndarray, horizons: Sequence[int],
                       interval_s: int, sensors: np.ndarray | None = None,
                       ) -> dict[str, np.ndarray]:
    """Forecasts of every road baseline from ``values`` ``(N, T)`` (NaN = missing) at anchor
    columns ``origins`` ``(K,)``: ``{name: (S, K, H)}`` for the ``sensors`` (default all).
    Each reads only columns ``<= origin``."""
    sel = np.arange(values.shape[0]) if sensors is None else np.asarray(sensors)
    baselines = default_baselines(interval_s)
    per_day = 86_400 // interval_s
    length = max(max(b.lookback for b in baselines), PROFILE_DAYS * per_day + 1)
    h = np.asarray(horizons, np.int64)
    out = {b.name: np.empty((len(sel), len(origins), len(h)), np.float32) for b in baselines}
    out[PROFILE_PERSISTENCE] = np.empty((len(sel), len(origins), len(h)), np.float32)
    chunk = max(1, _CHUNK_VALUES // max(1, len(sel) * length))
    for lo in range(0, len(origins), chunk):
        part = origins[lo:lo + chunk]
        window = _windows(values, sel, part, length)  # (S, k, L)
        flat = window.reshape(-1, length)
        for b in baselines:
            out[b.name][:, lo:lo + chunk] = _predict(b, flat, h).reshape(len(sel), len(part), -1)
        out[PROFILE_PERSISTENCE][:, lo:lo + chunk] = _profile(flat, h, per_day).reshape(
            len(sel), len(part), -1)
    return out


def _windows(values: np.ndarray, sensors: np.ndarray, origins: np.ndarray,
             length: int) -> np.ndarray:
    """``(S, K, L)`` windows ending at each origin (inclusive), NaN before the data."""
    cols = origins[:, None] - length + 1 + np.arange(length)[None, :]
    got = values[sensors][:, np.clip(cols, 0, None)]
    return np.where(cols[None] >= 0, got, np.float32(np.nan))


def _predict(baseline: Forecaster[np.ndarray], window: np.ndarray,
             horizons: np.ndarray) -> np.ndarray:
    return baseline.predict(window[:, -baseline.lookback:], horizons).y


def _profile(window: np.ndarray, horizons: np.ndarray, per_day: int) -> np.ndarray:
    """Profile-adjusted persistence from ``(R, L)`` windows (the last column is now)."""
    length = window.shape[1]
    last = LastValue().predict(window, horizons[:1]).y[:, 0]
    steps = np.concatenate([[0], horizons])
    past = np.full((len(window), PROFILE_DAYS, len(steps)), np.nan, np.float32)
    for k in range(1, PROFILE_DAYS + 1):
        cols = length - 1 - k * per_day + steps
        ok = (cols >= 0) & (cols <= length - 1)
        past[:, k - 1, ok] = window[:, cols[ok]]
    return profile_adjusted_persistence(last, past)  # NaN where there is no last value


def baseline_rows(grid: Grid, inputs: np.ndarray, origins: np.ndarray,
                  horizons: Sequence[int], *, sensors: np.ndarray | None = None,
                  last_target: int | None = None, y_true: np.ndarray | None = None,
                  ) -> pd.DataFrame:
    """Long rows of every baseline at ``origins`` for ``sensors`` (default all), reading
    ``inputs`` ``(N, T)`` (the values as the models see them: zeros NaN when they mean no
    data). ``y_true`` ``(S x K, H)`` in time-major order overrides the truth."""
    sel = np.arange(inputs.shape[0]) if sensors is None else np.asarray(sensors)
    forecasts = baseline_forecasts(inputs, origins, horizons, grid.interval_s, sel)
    sensor = np.tile(sel, len(origins))
    column = np.repeat(origins, len(sel))
    frames = [forecast_rows(grid, sensor, column, horizons,
                            f.transpose(1, 0, 2).reshape(len(column), -1), name,
                            y_true=y_true, last_target=last_target)
              for name, f in forecasts.items()]
    return pd.concat(frames, ignore_index=True)


def validation_predictions(grid: Grid, inputs: np.ndarray, validation: Validation,
                           horizons: Sequence[int], model: str = "lightgbm") -> pd.DataFrame:
    """The validation tail of a training run as a predictions table: the early-stopped model
    and every baseline at the same anchors, scored against the training targets (missing where
    training excluded them)."""
    cols = np.unique(validation.column)
    sensors = np.unique(validation.sensor)
    own = forecast_rows(grid, validation.sensor, validation.column, horizons,
                        validation.y_pred, model, p10=validation.p10, p90=validation.p90,
                        y_true=validation.y_true)
    truth = _reorder(validation, sensors, cols)
    base = baseline_rows(grid, inputs, cols.astype(np.int64), horizons, sensors=sensors,
                         y_true=truth)
    return validate_predictions(pd.concat([own, base], ignore_index=True))


def _reorder(validation: Validation, sensors: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The validation truths in (column, sensor) time-major order over ``cols`` x ``sensors``
    (NaN where an anchor is absent)."""
    out = np.full((len(cols) * len(sensors), validation.y_true.shape[1]), np.nan, np.float32)
    k = np.searchsorted(cols, validation.column) * len(sensors) + np.searchsorted(
        sensors, validation.sensor)
    out[k] = validation.y_true
    return out
