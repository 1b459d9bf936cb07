"""Baseline forecasters: last value, historical average by time of day, seasonal naive.

They are real models in their own right: the engine serves them until a LightGBM model is
loaded (and falls back to them when one fails), and every backtest reports them beside the
model. Each meets :class:`~flowcast.models.forecaster.Forecaster` with a window of the series'
recent history, shape ``(N, L)``, oldest bucket first, whose last column is the bucket that just
closed; missing values are NaN. They forecast any horizon they are asked for (their own
``horizons`` are empty) and have no intervals: the :class:`Forecast`'s ``y`` is ``(N, H)``
float32, column ``j`` the value expected ``horizons[j]`` buckets after the window's last bucket.

>>> import numpy as np
>>> from flowcast.models.forecaster import Forecaster
>>> window = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]])
>>> last = LastValue(max_age=3)
>>> isinstance(last, Forecaster)
True
>>> last.predict(window, [1, 2]).y
array([[2., 2.],
       [6., 6.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flowcast.models.forecaster import Forecast, Forecaster

BASELINE_VERSION = "builtin"  # baselines are code: their version is flowcast's own


def _horizons(horizons: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """The asked horizons as int64 ``(H,)``; a baseline has none of its own to default to."""
    if horizons is None:
        raise ValueError("a baseline forecasts the horizons it is asked for; give horizons")
    return np.asarray(horizons, dtype=np.int64)


@dataclass(frozen=True)
class LastValue:
    """Tomorrow looks like now: the last observed (non-NaN) value within the window."""

    name: str = "last_value"
    max_age: int = 12  # buckets; older than this, a series has no last value (NaN)
    version: str = BASELINE_VERSION
    horizons: tuple[int, ...] = ()

    @property
    def lookback(self) -> int:
        """Buckets of history read."""
        return self.max_age

    def predict(self, window: np.ndarray, horizons: Sequence[int] | np.ndarray | None = None,
                *, intervals: bool = True, threads: int = 0) -> Forecast:
        """Repeat each series' newest non-NaN value for every horizon."""
        horizons = _horizons(horizons)
        recent = window[:, -self.max_age :]
        valid = ~np.isnan(recent)
        # index of the last valid column per row (argmax on the reversed mask)
        last = recent.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
        value = recent[np.arange(len(recent)), last]
        value = np.where(valid.any(axis=1), value, np.nan)
        return Forecast(np.repeat(value[:, None], len(horizons), axis=1).astype(np.float32))


@dataclass(frozen=True)
class SeasonalNaive:
    """The value one season earlier at the target time (a day ago by default)."""

    season: int  # buckets per season, e.g. 288 five-minute buckets = one day
    name: str = "seasonal_naive"
    version: str = BASELINE_VERSION
    horizons: tuple[int, ...] = ()

    @property
    def lookback(self) -> int:
        """Buckets of history read."""
        return self.season

    def predict(self, window: np.ndarray, horizons: Sequence[int] | np.ndarray | None = None,
                *, intervals: bool = True, threads: int = 0) -> Forecast:
        """For horizon ``h`` take the value at ``t + h - k*season`` for the smallest k >= 1
        that lands inside the window's past."""
        length = window.shape[1]
        horizons = _horizons(horizons)
        seasons_back = np.ceil(horizons / self.season).astype(np.int64)
        seasons_back = np.maximum(seasons_back, 1)
        column = length - 1 + horizons - seasons_back * self.season
        out = np.full((window.shape[0], len(horizons)), np.nan, dtype=np.float32)
        inside = column >= 0
        out[:, inside] = window[:, column[inside]]
        return Forecast(out)


@dataclass(frozen=True)
class HistoricalAverage:
    """The mean of the same time of day over the past ``days`` seasons (NaNs skipped)."""

    season: int  # buckets per day
    days: int = 7
    name: str = "historical_average"
    version: str = BASELINE_VERSION
    horizons: tuple[int, ...] = ()

    @property
    def lookback(self) -> int:
        """Buckets of history read."""
        return self.season * self.days

    def predict(self, window: np.ndarray, horizons: Sequence[int] | np.ndarray | None = None,
                *, intervals: bool = True, threads: int = 0) -> Forecast:
        """Average, for each horizon, the values at ``t + h - k*season`` for k = 1..days
        (those inside the window). NaN where none is observed."""
        length = window.shape[1]
        horizons = _horizons(horizons)
        out = np.full((window.shape[0], len(horizons)), np.nan, dtype=np.float32)
        for j, h in enumerate(horizons):
            k0 = max(1, int(np.ceil(h / self.season)))
            columns = length - 1 + h - np.arange(k0, k0 + self.days) * self.season
            columns = columns[columns >= 0]
            if len(columns):
                picked = window[:, columns]
                count = np.sum(~np.isnan(picked), axis=1)
                total = np.nansum(picked, axis=1)
                out[:, j] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return Forecast(out)


def default_baselines(interval_s: int) -> list[Forecaster[np.ndarray]]:
    """The three baselines for a series with buckets of ``interval_s`` seconds."""
    per_day = 86400 // interval_s
    return [LastValue(), HistoricalAverage(season=per_day), SeasonalNaive(season=per_day)]


def profile_adjusted_persistence(last: np.ndarray, past: np.ndarray) -> np.ndarray:
    """Persistence corrected by the daily profile: ``y(t) + HA(t+h) - HA(t)``.

    ``last``: ``(N,)`` the value now. ``past``: ``(N, K, 1 + H)``: for each of K past days,
    the value at the same time of day as now (column 0) and at each horizon's target time of
    day (columns 1..H); NaN where not observed. ``HA`` is the NaN-skipping mean over the K
    days. Where a day-profile difference cannot be formed the forecast is the last value.
    Returns ``(N, H)`` float32. This keeps the short-horizon skill of the last value while
    following the usual rise into a peak and fall out of it.
    """
    with np.errstate(invalid="ignore"):
        same_now = past[:, :, :1]
        both = ~np.isnan(same_now) & ~np.isnan(past[:, :, 1:])
        delta = np.where(both, past[:, :, 1:] - same_now, 0.0).sum(axis=1)
        days = both.sum(axis=1)
        shift = np.where(days > 0, delta / np.maximum(days, 1), 0.0)
    return (last[:, None] + shift).astype(np.float32)
