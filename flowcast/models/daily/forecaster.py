"""Daily arrivals of a scenic spot, days ahead: direct multi-horizon LightGBM.

One booster per horizon ``h`` (days), each trained on ``log1p(y[t + h]) - a(t)`` where ``a(t)``
is the 7-day mean of ``log1p`` arrivals up to the issue day ``t`` (see
:mod:`flowcast.models.daily.features` for every feature and why the target is relative).
Optional quantile boosters give P10/P90 (:mod:`flowcast.models.daily.boosting`: early stopping
on a time-ordered validation tail, then a refit on the whole span).

A model is a directory (:mod:`flowcast.models.daily.model_dir`): one LightGBM text model file
per horizon and quantile, and ``model.json``. Never pickle. :func:`load` refuses a directory
whose format, feature spec or files do not match this code.

The API::

    model = fit(series, horizons=range(1, 31))     # series: a daily series (daily_data)
    model.predict(series_up_to_t)                  # DataFrame: one row per horizon
    model.save("models/jiuzhaigou"); load("models/jiuzhaigou")
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from flowcast.models.calendar import DEFAULT_TIMEZONE, calendar_for
from flowcast.models.daily import features as dfe
from flowcast.models.daily.boosting import MIN_TRAIN_ROWS, DailyConfig, fit_horizon
from flowcast.models.daily.data import check_daily_series
from flowcast.models.daily.model_dir import (
    DailyModelError,
    model_meta,
    read_model_dir,
    write_model_dir,
)

MODEL_NAME = "lightgbm"
DEFAULT_HORIZONS: tuple[int, ...] = tuple(range(1, 31))
PAPER_HORIZONS: tuple[int, ...] = (1, 3, 7, 15, 30)


@dataclass
class DailyArrivalsModel:
    """A trained daily-arrivals forecaster: boosters per horizon (and quantile) plus metadata.

    ``boosters[h]`` maps ``"point"`` and ``"p10"``/``"p90"`` (when trained) to a LightGBM
    booster for horizon ``h`` days. ``meta`` is what ``model.json`` holds.
    """

    boosters: dict[int, dict[str, lgb.Booster]]
    meta: dict[str, Any]

    @property
    def horizons(self) -> tuple[int, ...]:
        """The horizons (days) this model forecasts."""
        return tuple(sorted(self.boosters))

    @property
    def version(self) -> str:
        """The model's version id."""
        return str(self.meta["version"])

    def predict(self, series: pd.Series, horizons: Iterable[int] | None = None) -> pd.DataFrame:
        """Forecast issued at the end of the series' last day, for ``horizons`` days ahead
        (default: all the model's).

        Returns one row per horizon in the predictions table's columns ``series, origin,
        horizon_steps, target_time, y_true, y_pred, p10, p90, model``: visitors per day
        (``y_true`` NaN: not known yet; p10/p90 NaN without quantile boosters); times are the
        local midnight starting each day, in UTC. Raises :class:`DailyModelError` when the series
        is another spot's or has no count in its last 7 days.
        """
        series = check_daily_series(series)
        trained_for = self.meta.get("series")
        if series.name is not None and trained_for is not None and str(series.name) != trained_for:
            raise DailyModelError(f"this model was trained for spot {trained_for!r}, not "
                                  f"{series.name!r}; load that spot's model")
        if series.iloc[-dfe.ANCHOR_DAYS:].isna().all():
            raise DailyModelError(f"no count in the {dfe.ANCHOR_DAYS} days up to "
                                  f"{series.index[-1].date()}; a forecast needs recent data")
        rows = predict_at(self, series, np.array([len(series) - 1]), horizons)
        return rows.reset_index(drop=True)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the model directory (created if needed): LightGBM text files and
        ``model.json``. Returns the directory."""
        return write_model_dir(directory, self.boosters, self.meta)


# --- training ----------------------------------------------------------------------------------

def fit(series: pd.Series, horizons: Iterable[int] = DEFAULT_HORIZONS,
        config: DailyConfig | None = None, *, train_end: pd.Timestamp | str | None = None,
        timezone: str = DEFAULT_TIMEZONE) -> DailyArrivalsModel:
    """Train one booster per horizon (days) on ``series`` up to ``train_end`` (a date,
    inclusive; default the last day). Only days ``<= train_end`` are read: every target of the
    training rows lies on or before it. Raises :class:`DailyModelError` for bad horizons or too
    little data."""
    config = config or DailyConfig()
    series = check_daily_series(series)
    horizons = check_horizons(horizons)
    if train_end is not None:
        series = series.loc[: pd.Timestamp(train_end)]
    if len(series) < MIN_TRAIN_ROWS:
        raise DailyModelError(f"training needs at least {MIN_TRAIN_ROWS} days; the series has "
                              f"{len(series)} up to {train_end or 'its end'}")
    history = dfe.History(series.to_numpy())
    calendar = calendar_for(series.index, max(horizons))
    boosters: dict[int, dict[str, lgb.Booster]] = {}
    info: dict[str, Any] = {}
    for h in horizons:
        X, z, origins = dfe.training_rows(history, calendar, series.index[0], h, len(series) - 1)
        if len(z) < MIN_TRAIN_ROWS:
            raise DailyModelError(f"horizon {h} d has {len(z)} training rows (needs "
                                  f"{MIN_TRAIN_ROWS}); use shorter horizons or more history")
        boosters[h], info[str(h)] = fit_horizon(X, z, origins, h, config)
    return DailyArrivalsModel(boosters, model_meta(series, horizons, config, info, timezone,
                                                   boosters))


# --- forecasting -------------------------------------------------------------------------------

def predict_at(model: DailyArrivalsModel, series: pd.Series, origins: np.ndarray,
               horizons: Iterable[int] | None = None) -> pd.DataFrame:
    """Forecasts issued at day indices ``origins`` of a clean daily series, for ``horizons``
    (default all the model's); features read only days ``<= origin``. Long format as
    :meth:`DailyArrivalsModel.predict`, plus ``y_true`` where the target day is in the series
    (NaN after its end). Used by the backtest: one call per horizon for all origins."""
    horizons = model.horizons if horizons is None else check_horizons(horizons)
    missing = sorted(set(horizons) - set(model.horizons))
    if missing:
        raise DailyModelError(f"the model has no booster for horizon(s) {missing} d; it was "
                              f"trained for {list(model.horizons)}")
    origins = np.asarray(origins, dtype=np.int64)
    history = dfe.History(series.to_numpy())
    calendar = calendar_for(series.index, max(horizons))
    frames = []
    for h in horizons:
        X, anchor = dfe.feature_matrix(history, calendar, series.index[0], origins, h)
        out = {kind: _back(booster.predict(X), anchor)
               for kind, booster in model.boosters[h].items()}
        frames.append(forecast_rows(series, origins, h, out, str(model.meta["timezone"])))
    return pd.concat(frames, ignore_index=True)


def _back(z: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Visitors per day from a log-ratio to the anchor (>= 0; NaN where no anchor)."""
    return np.maximum(np.expm1(z + anchor), 0.0)


def forecast_rows(series: pd.Series, origins: np.ndarray, horizon: int,
                  out: dict[str, np.ndarray], timezone: str) -> pd.DataFrame:
    """Long-format rows of one horizon from forecasts in visitors per day: ``out["point"]``
    of shape ``(len(origins),)``, and optionally ``out["p10"]``, ``out["p90"]``. The bounds are
    made non-crossing by sorting: ``p10 = min(p10, p90, point)``, ``p90 = max(...)``. ``y_true``
    is the series' value on the target day (NaN past its end)."""
    point = out["point"]
    lo, hi = out.get("p10"), out.get("p90")
    if lo is None or hi is None:
        lo = hi = np.full_like(point, np.nan)
    else:
        lo, hi = np.minimum(np.minimum(lo, hi), point), np.maximum(np.maximum(lo, hi), point)
    targets = origins + horizon
    values = series.to_numpy()
    truth = np.where(targets < len(values), values[np.minimum(targets, len(values) - 1)], np.nan)
    return pd.DataFrame({
        "series": str(series.name if series.name is not None else "spot"),
        "origin": day_times(series.index[0], origins, timezone),
        "horizon_steps": np.full(len(origins), horizon, dtype=np.int64),
        "target_time": day_times(series.index[0], targets, timezone),
        "y_true": truth, "y_pred": point, "p10": lo, "p90": hi, "model": MODEL_NAME,
    })


def day_times(day0: pd.Timestamp, index: np.ndarray, timezone: str) -> pd.DatetimeIndex:
    """UTC timestamps of the local midnights starting days ``day0 + index`` (a day is labelled
    by its start, as every bucket in flowcast)."""
    local = pd.DatetimeIndex(day0 + pd.to_timedelta(np.asarray(index), unit="D"))
    return local.tz_localize(timezone).tz_convert("UTC")


def load(directory: str | os.PathLike[str]) -> DailyArrivalsModel:
    """Read a model directory written by :meth:`DailyArrivalsModel.save`; refuses (a
    :class:`DailyModelError` saying what to do) one this code cannot use
    (:func:`~flowcast.models.daily.model_dir.read_model_dir`)."""
    return DailyArrivalsModel(*read_model_dir(directory))


def check_horizons(horizons: Iterable[int]) -> tuple[int, ...]:
    """Sorted distinct horizons in days (each an integer 1..366); a
    :class:`DailyModelError` otherwise."""
    try:
        values = sorted({int(h) for h in horizons})
    except (TypeError, ValueError) as err:
        raise DailyModelError(f"horizons must be whole days, e.g. 1,3,7 ({err})") from err
    if not values or values[0] < 1 or values[-1] > 366:
        raise DailyModelError(f"horizons must be days between 1 and 366; got {values}")
    return tuple(values)
