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
most recent one that is not after ``t``. Holiday *blocks* are maximal runs of consecutive days
off (weekends and public holidays) that hold at least one public holiday; the block's category
is its most important holiday (National Day > Spring Festival > Labour Day > Mid-Autumn >
Dragon Boat > Qingming > New Year). Golden Week is a National Day or Spring Festival block.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from flowcast import daytypes

ANCHOR_DAYS = 7
LAG_DAYS = (1, 2, 3, 4, 5, 6, 7, 14, 21, 28)
ROLL_DAYS = (7, 14, 28)
SAME_WEEKDAY_WEEKS = 4
DISTANCE_CAP = 60  # days; "next/last holiday block further than this" reads as this
CALENDAR_MARGIN = 120  # days of calendar computed beyond the data, for the distances above

# holiday categories (code: name), and their priority when several names share one block
HOLIDAY_CATEGORIES: dict[int, str] = {
    0: "none", 1: "new_year", 2: "spring_festival", 3: "qingming", 4: "labour_day",
    5: "dragon_boat", 6: "mid_autumn", 7: "national_day", 8: "other",
}
_PRIORITY = {7: 8, 2: 7, 4: 6, 6: 5, 5: 4, 3: 3, 1: 2, 8: 1, 0: 0}
GOLDEN_WEEK = (2, 7)
_NAME_KEYS = (("new year", 1), ("spring", 2), ("tomb", 3), ("qingming", 3), ("labour", 4),
              ("labor", 4), ("dragon", 5), ("mid-autumn", 6), ("mid autumn", 6),
              ("national", 7))
_FIXED_CATEGORY = {1: 1, 5: 4, 10: 7}  # month -> category, for years the calendar lacks

CALENDAR_FEATURES: tuple[str, ...] = (
    "cal_dow", "cal_day_type", "cal_makeup", "cal_holiday", "cal_golden_week", "cal_in_block",
    "cal_block_day", "cal_block_left", "cal_block_len", "cal_days_to_block",
    "cal_days_since_block", "cal_next_holiday", "cal_month", "cal_season", "cal_day_of_year",
)
HISTORY_FEATURES: tuple[str, ...] = (
    "level", "last_abs",
    *(f"lag_{k}" for k in LAG_DAYS),
    *(f"mean_{w}" for w in ROLL_DAYS), *(f"std_{w}" for w in ROLL_DAYS),
    "min_7", "max_7", "week_change",
    *(f"same_wd_{k}" for k in (1, 2)), "same_wd_mean4", "missing_28",
)
ISSUE_FEATURES: tuple[str, ...] = ("issue_dow", "issue_day_type", "issue_in_block")
FEATURES: tuple[str, ...] = (*HISTORY_FEATURES, *ISSUE_FEATURES, *CALENDAR_FEATURES,
                             "horizon")
FEATURE_SPEC_VERSION = 1


# --- the calendar ------------------------------------------------------------------------------

@lru_cache(maxsize=8192)
def holiday_category(date: dt.date) -> int:
    """The holiday category code (:data:`HOLIDAY_CATEGORIES`) of a public holiday on ``date``;
    0 when the day is not a public holiday. Years the official calendar lacks fall back to the
    fixed dates (New Year, Labour Day, National Day)."""
    name = daytypes.holiday_name(date)
    if name is None:
        if daytypes.day_type(date) == daytypes.HOLIDAY:
            return _FIXED_CATEGORY.get(date.month, 8)
        return 0
    lowered = name.lower()
    return next((code for key, code in _NAME_KEYS if key in lowered), 8)


def calendar_frame(dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Calendar features (:data:`CALENDAR_FEATURES`) of consecutive local dates, float64.

    ``dates`` must be consecutive days; blocks and distances are found within them, so give
    a margin beyond the days of interest (:data:`CALENDAR_MARGIN`). Columns: weekday (0 =
    Monday), day type code, make-up working day (0/1), holiday category of the day's block,
    Golden Week (0/1), inside a holiday block (0/1), days into the block (0 = first day, -1
    outside), days left in it (0 = last day, -1 outside), the block's length (0 outside), days
    until the next block starts (0 inside, capped at :data:`DISTANCE_CAP`), days since the last
    block ended (0 inside, capped), the next block's category, month, season (0 = winter Dec-Feb
    .. 3 = autumn), day of the year.
    """
    codes = daytypes.day_types(dates).astype(np.int64)
    category = np.array([holiday_category(d.date()) for d in dates], dtype=np.int64)
    block = _blocks(daytypes.is_day_off(codes), category)
    month = dates.month.to_numpy()
    frame = pd.DataFrame({
        "cal_dow": dates.day_of_week.to_numpy(),
        "cal_day_type": codes,
        "cal_makeup": (codes == daytypes.MAKEUP_WORKDAY).astype(np.int64),
        **block,
        "cal_month": month,
        "cal_season": (month % 12) // 3,
        "cal_day_of_year": dates.day_of_year.to_numpy(),
    }, index=dates)
    return frame[list(CALENDAR_FEATURES)].astype(np.float64)


def _blocks(off: np.ndarray, category: np.ndarray) -> dict[str, np.ndarray]:
    """Holiday-block columns from day-off flags and per-day holiday categories."""
    n = len(off)
    run = np.cumsum(np.r_[True, off[1:] != off[:-1]]) - 1  # run id of each day
    starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    ends = np.r_[starts[1:] - 1, n - 1]
    prio = np.array([_PRIORITY[int(c)] for c in category])
    best = np.maximum.reduceat(prio, starts)  # per run
    inverse = {v: k for k, v in _PRIORITY.items()}
    run_cat = np.array([inverse[int(p)] for p in best])
    is_block = off[starts] & (run_cat > 0)
    in_block = is_block[run]
    index = np.arange(n)
    b_starts, b_ends, b_cat = starts[is_block], ends[is_block], run_cat[is_block]
    to_next, next_cat = _next_block(index, b_starts, b_cat)
    prev = np.searchsorted(b_ends, index, side="left") - 1  # last block ending before today
    since = np.where(prev >= 0, index - b_ends[np.maximum(prev, 0)] if len(b_ends) else 0,
                     DISTANCE_CAP)
    holiday = np.where(in_block, run_cat[run], 0)
    return {
        "cal_holiday": holiday,
        "cal_golden_week": np.isin(holiday, GOLDEN_WEEK).astype(np.int64),
        "cal_in_block": in_block.astype(np.int64),
        "cal_block_day": np.where(in_block, index - starts[run], -1),
        "cal_block_left": np.where(in_block, ends[run] - index, -1),
        "cal_block_len": np.where(in_block, ends[run] - starts[run] + 1, 0),
        "cal_days_to_block": np.where(in_block, 0, np.minimum(to_next, DISTANCE_CAP)),
        "cal_days_since_block": np.where(in_block, 0, np.minimum(since, DISTANCE_CAP)),
        "cal_next_holiday": next_cat,
    }


def _next_block(index: np.ndarray, b_starts: np.ndarray,
                b_cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days until the next block starting after each day (:data:`DISTANCE_CAP` when none),
    and that block's category (0 when none)."""
    if not len(b_starts):
        return np.full(len(index), DISTANCE_CAP), np.zeros(len(index), dtype=np.int64)
    nxt = np.searchsorted(b_starts, index, side="right")
    has = nxt < len(b_starts)
    safe = np.minimum(nxt, len(b_starts) - 1)
    return (np.where(has, b_starts[safe] - index, DISTANCE_CAP),
            np.where(has, b_cat[safe], 0))


def calendar_for(dates: pd.DatetimeIndex, days_ahead: int) -> pd.DataFrame:
    """:func:`calendar_frame` over ``dates`` extended by ``days_ahead`` days (the longest
    horizon) plus :data:`CALENDAR_MARGIN` on both sides; index = every date covered."""
    start = dates[0] - pd.Timedelta(days=CALENDAR_MARGIN)
    end = dates[-1] + pd.Timedelta(days=days_ahead + CALENDAR_MARGIN)
    return calendar_frame(pd.date_range(start, end, freq="D"))


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

    ``day0`` is the date of index 0 of ``history``; ``calendar`` a :func:`calendar_for` frame
    covering every origin and target date. Returns ``(X, anchor)``: ``X`` float64 of shape
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
    cols.update({name: target[name] for name in CALENDAR_FEATURES})
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
