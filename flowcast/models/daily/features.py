"""Features of the daily-arrivals forecaster: recent history at the issue day, calendar of the
target day.

A forecast is *issued at the end of day t* (the *origin*, the last day whose count is known) for
day ``t + h``. Every history feature at origin ``t`` reads only days ``<= t``; the calendar
features describe the target day ``t + h`` (and the issue day), which are known in advance:
weekday, China's day type (holiday, weekend, make-up working day), the holiday block around the
day and its name. Nothing else about the future is used.

Everything is on the log scale, ``x = log1p(arrivals)``, and relative to the *anchor*
``a(t)``, the mean of ``x`` over the 7 days ending at ``t`` (missing days skipped): arrivals are
multiplicative (a holiday doubles them whether the base is 500 or 15,000), and a ratio to the
current level stays meaningful when the level moves out of the range seen in training, which a
tree cannot extrapolate. The model's target is ``x(t + h) - a(t)``.

``lag_k`` is the value at ``t - k + 1``: ``lag_1`` is the issue day itself, ``lag_7`` the same
weekday as tomorrow last week. ``same_wd_k`` is the target's own weekday ``k`` weeks back, the
most recent one that is not after ``t``. The calendar columns (holiday blocks, Golden Week)
are :mod:`flowcast.models.calendar`'s day calendar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowcast.models.calendar import DAY_CALENDAR_NAMES

ANCHOR_DAYS = 7
LAG_DAYS = (1, 2, 3, 4, 5, 6, 7, 14, 21, 28)
ROLL_DAYS = (7, 14, 28)
SAME_WEEKDAY_WEEKS = 4
HISTORY_FEATURES: tuple[str, ...] = (
    "level", "last_abs",
    *(f"lag_{k}" for k in LAG_DAYS),
    *(f"mean_{w}" for w in ROLL_DAYS), *(f"std_{w}" for w in ROLL_DAYS),
    "min_7", "max_7", "week_change",
    *(f"same_wd_{k}" for k in (1, 2)), "same_wd_mean4", "missing_28",
)
ISSUE_FEATURES: tuple[str, ...] = ("issue_dow", "issue_day_type", "issue_in_block")
FEATURES: tuple[str, ...] = (*HISTORY_FEATURES, *ISSUE_FEATURES, *DAY_CALENDAR_NAMES,
                             "horizon")
FEATURE_SPEC_VERSION = 1


# --- history features ----------------------------------------------------------------------------

class History:
    """Precomputed per-day arrays of one daily series, from which feature rows are gathered.

    ``values`` are arrivals per day (NaN = missing), oldest first. Each array at index ``t``
    depends only on ``values[: t + 1]`` (trailing windows), so a row for origin ``t`` never sees
    a later day.
    """

    def __init__(self, values: np.ndarray) -> None:
        """Log-transform ``values`` (shape ``(T,)``) and compute the trailing statistics."""
        self.values = np.asarray(values, dtype=np.float64)
        self.x = np.log1p(self.values)
        logs = pd.Series(self.x)
        week = logs.rolling(ANCHOR_DAYS, min_periods=1).mean()
        # a day with no count in the last w days falls back to the week's mean
        self.anchors = {w: logs.rolling(w, min_periods=1).mean().fillna(week).to_numpy()
                        for w in range(1, ANCHOR_DAYS + 1)}
        self.mean = {w: logs.rolling(w, min_periods=1).mean().to_numpy() for w in ROLL_DAYS}
        self.std = {w: logs.rolling(w, min_periods=2).std().to_numpy() for w in ROLL_DAYS}
        self.min7 = logs.rolling(7, min_periods=1).min().to_numpy()
        self.max7 = logs.rolling(7, min_periods=1).max().to_numpy()
        self.missing28 = pd.Series(np.isnan(self.x).astype(np.float64)).rolling(
            28, min_periods=1).mean().to_numpy()

    def __len__(self) -> int:
        """Number of days."""
        return len(self.x)

    def take(self, array: np.ndarray, index: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """``array[index]`` with NaN where ``index`` is before the first day or after the
        origin (a guard: no feature may read a day after its origin)."""
        ok = (index >= 0) & (index <= origins)
        return np.where(ok, array[np.clip(index, 0, len(array) - 1)], np.nan)


def anchor_days(horizon: int) -> int:
    """Days averaged into the anchor of a ``horizon``-day forecast: ``min(7, horizon)``. The
    next day is judged against the issue day alone; a week ahead against the past week."""
    return min(ANCHOR_DAYS, int(horizon))


def feature_matrix(history: History, calendar: pd.DataFrame, day0: pd.Timestamp,
                   origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows for forecasts issued at day indices ``origins`` for ``horizon`` days ahead.

    ``day0`` is the date of index 0 of ``history``; ``calendar`` a
    :func:`~flowcast.models.calendar.calendar_for` frame covering every origin and target date.
    Returns ``(X, anchor)``: ``X`` float64 of shape
    ``(len(origins), len(FEATURES))`` in :data:`FEATURES` order, and the anchor ``a(t)`` per row
    (log scale; NaN where the 7 days up to the origin are all missing: no forecast possible).
    """
    o = np.asarray(origins, dtype=np.int64)
    anchor = history.anchors[anchor_days(horizon)]
    a = anchor[o]
    cols: dict[str, np.ndarray] = {"level": a, "last_abs": history.x[o]}
    for k in LAG_DAYS:
        cols[f"lag_{k}"] = history.take(history.x, o - k + 1, o) - a
    for w in ROLL_DAYS:
        cols[f"mean_{w}"] = history.mean[w][o] - a
    for w in ROLL_DAYS:
        cols[f"std_{w}"] = history.std[w][o]
    cols["min_7"] = history.min7[o] - a
    cols["max_7"] = history.max7[o] - a
    cols["week_change"] = a - history.take(anchor, o - 7, o)
    cols.update(_same_weekday(history, o, horizon, a))
    cols["missing_28"] = history.missing28[o]
    issue = _calendar_rows(calendar, day0, o)
    target = _calendar_rows(calendar, day0, o + horizon)
    cols["issue_dow"] = issue["cal_dow"]
    cols["issue_day_type"] = issue["cal_day_type"]
    cols["issue_in_block"] = issue["cal_in_block"]
    cols.update({name: target[name] for name in DAY_CALENDAR_NAMES})
    cols["horizon"] = np.full(len(o), float(horizon))
    X = np.column_stack([np.asarray(cols[name], dtype=np.float64) for name in FEATURES])
    return X, a


def _same_weekday(history: History, o: np.ndarray, horizon: int,
                  a: np.ndarray) -> dict[str, np.ndarray]:
    """The target's weekday 1, 2 weeks back (the latest not after the origin), and the mean of
    the last :data:`SAME_WEEKDAY_WEEKS` of them, relative to the anchor."""
    first = max(1, -(-horizon // 7))  # weeks back to land on or before the origin
    picks = [history.take(history.x, o + horizon - 7 * (first + k), o)
             for k in range(SAME_WEEKDAY_WEEKS)]
    stacked = np.column_stack(picks)
    count = np.sum(~np.isnan(stacked), axis=1)
    mean = np.where(count > 0, np.nansum(stacked, axis=1) / np.maximum(count, 1), np.nan)
    return {"same_wd_1": picks[0] - a, "same_wd_2": picks[1] - a, "same_wd_mean4": mean - a}


def _calendar_rows(calendar: pd.DataFrame, day0: pd.Timestamp,
                   index: np.ndarray) -> dict[str, np.ndarray]:
    """Calendar columns for day indices counted from ``day0``."""
    offset = (day0 - calendar.index[0]).days
    rows = np.asarray(index, dtype=np.int64) + offset
    if rows.min(initial=0) < 0 or rows.max(initial=0) >= len(calendar):
        raise ValueError("calendar does not cover the requested days; build it with "
                         "calendar_for(dates, longest horizon)")
    values = calendar.to_numpy()[rows]
    return {name: values[:, j] for j, name in enumerate(calendar.columns)}


def training_rows(history: History, calendar: pd.DataFrame, day0: pd.Timestamp, horizon: int,
                  last_target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows for ``horizon``: every origin whose target day is ``<= last_target`` (a
    day index), whose anchor exists and whose target count is known.

    Returns ``(X, z, origins)``: features, the target ``log1p(y[t + h]) - a(t)``, and the
    origin index of each row (increasing).
    """
    origins = np.arange(0, last_target - horizon + 1, dtype=np.int64)
    if not len(origins):
        return np.empty((0, len(FEATURES))), np.empty(0), origins
    X, a = feature_matrix(history, calendar, day0, origins, horizon)
    z = history.x[origins + horizon] - a
    keep = np.isfinite(z)
    return X[keep], z[keep], origins[keep]
