"""China's calendar as model features: the one calendar encoder every model reads.

Two grains, both from :mod:`flowcast.daytypes` (public holidays, make-up working days):

- **per bucket** (:func:`calendar_table`, the road features): the time of day, the day of week,
  the day type and the whole days to the next and since the last public holiday of each bucket's
  local start, in the zone's local time (daylight saving included);
- **per local day** (:func:`calendar_frame`, :func:`day_calendar`; the daily-arrivals and the
  intra-day spot features): day of week, day type, make-up day, and the holiday *block* around
  the day: a maximal run of consecutive days off (weekends and public holidays) holding at least
  one public holiday, its category (its most important holiday: National Day > Spring Festival >
  Labour Day > Mid-Autumn > Dragon Boat > Qingming > New Year), the day's place in it and the
  distances to the blocks around. Golden Week is a National Day or Spring Festival block.

Local days are numbered as days since 1970-01-01.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from flowcast import daytypes

DAY_S = 86_400
DEFAULT_TIMEZONE = "Asia/Shanghai"
_QUARTER_S = 900  # zones change their UTC offset on quarter-hour boundaries
_EPOCH = dt.date(1970, 1, 1)

# ----- per bucket ------------------------------------------------------------------------------

TIME_NAMES: tuple[str, ...] = ("tod_sin", "tod_cos", "tod_bucket", "dow", "daytype")
HOLIDAY_NAMES: tuple[str, ...] = ("days_to_holiday", "days_from_holiday")
BUCKET_CALENDAR_NAMES: tuple[str, ...] = TIME_NAMES + HOLIDAY_NAMES
"""Columns of :func:`calendar_table`."""

# ----- per local day ---------------------------------------------------------------------------

DISTANCE_CAP = 60  # days; "next/last holiday block further than this" reads as this
CALENDAR_MARGIN = 120  # days of calendar computed beyond the days asked for (blocks, distances)
HOLIDAY_CATEGORIES: dict[int, str] = {
    0: "none", 1: "new_year", 2: "spring_festival", 3: "qingming", 4: "labour_day",
    5: "dragon_boat", 6: "mid_autumn", 7: "national_day", 8: "other",
}
"""Holiday categories, code: name."""
GOLDEN_WEEK = (2, 7)
_PRIORITY = {7: 8, 2: 7, 4: 6, 6: 5, 5: 4, 3: 3, 1: 2, 8: 1, 0: 0}  # when a block has several
_NAME_KEYS = (("new year", 1), ("spring", 2), ("tomb", 3), ("qingming", 3), ("labour", 4),
              ("labor", 4), ("dragon", 5), ("mid-autumn", 6), ("mid autumn", 6),
              ("national", 7))
_FIXED_CATEGORY = {1: 1, 5: 4, 10: 7}  # month -> category, for years the calendar lacks

DAY_CALENDAR_NAMES: tuple[str, ...] = (
    "cal_dow", "cal_day_type", "cal_makeup", "cal_holiday", "cal_golden_week", "cal_in_block",
    "cal_block_day", "cal_block_left", "cal_block_len", "cal_days_to_block",
    "cal_days_since_block", "cal_next_holiday", "cal_month", "cal_season", "cal_day_of_year",
)
"""Columns of :func:`calendar_frame`."""


def calendar_table(buckets: np.ndarray, bucket_s: int, timezone: str, *, offset_s: int = 0,
                   holiday_cap_days: int = 30) -> np.ndarray:
    """Time features of each bucket's start in local time, ``(T, 7)`` float32 in
    :data:`BUCKET_CALENDAR_NAMES` order: sin and cos of the time of day (period 24 h), the
    bucket's index in the day (seconds since midnight // ``bucket_s``), day of week (Monday 0),
    day type (``flowcast.daytypes``), whole days to the next and since the last public holiday
    (0 on one, capped at ``holiday_cap_days``). Bucket ``b`` starts at epoch second
    ``b * bucket_s + offset_s``.

    Integer arithmetic on epoch seconds plus the zone's UTC offset (looked up once per distinct
    quarter hour), and the calendar once per distinct local day, so a live call for one bucket
    costs microseconds and a month of training buckets a few milliseconds."""
    start = np.asarray(buckets, np.int64) * bucket_s + offset_s
    local = start + utc_offsets(start, timezone)
    day = local // DAY_S
    sec = (local - day * DAY_S).astype(np.float64)
    unique, inverse = np.unique(day, return_inverse=True)
    info = np.array([_day_info(int(d), holiday_cap_days) for d in unique],
                    np.float32).reshape(-1, 3)[inverse]
    out = np.empty((len(start), len(BUCKET_CALENDAR_NAMES)), np.float32)
    out[:, 0] = np.sin(2 * np.pi * sec / DAY_S)
    out[:, 1] = np.cos(2 * np.pi * sec / DAY_S)
    out[:, 2] = np.floor(sec / bucket_s)
    out[:, 3] = (day + 3) % 7  # 1970-01-01 was a Thursday
    out[:, 4:] = info
    return out


def utc_offsets(epoch_s: np.ndarray, timezone: str) -> np.ndarray:
    """The zone's UTC offset (seconds, int64) at each epoch second, same shape."""
    quarter, inverse = np.unique(epoch_s // _QUARTER_S, return_inverse=True)
    offsets = np.array([_utc_offset(int(q) * _QUARTER_S, timezone) for q in quarter], np.int64)
    return offsets[inverse].reshape(epoch_s.shape)


def utc_offset_of(timezone: str) -> int:
    """The fixed UTC offset (minutes) used for the local days of ``timezone`` (its offset
    now; Chinese zones have kept no DST since 1991)."""
    offset = dt.datetime.now(ZoneInfo(timezone)).utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds() // 60)


@lru_cache(maxsize=65_536)
def _utc_offset(epoch_s: int, timezone: str) -> int:
    offset = dt.datetime.fromtimestamp(epoch_s, ZoneInfo(timezone)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


@lru_cache(maxsize=65_536)
def _day_info(day: int, cap: int) -> tuple[int, int, int]:
    """Day type, days to the next and since the last holiday (capped) of local day ``day``."""
    date = _EPOCH + dt.timedelta(days=day)

    def holiday(k: int) -> bool:
        return daytypes.day_type(date + dt.timedelta(days=k)) == daytypes.HOLIDAY

    to_h = next((k for k in range(cap + 1) if holiday(k)), cap)
    from_h = next((k for k in range(cap + 1) if holiday(-k)), cap)
    return daytypes.day_type(date), to_h, from_h


# ----- per local day ---------------------------------------------------------------------------


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
    """Calendar features (:data:`DAY_CALENDAR_NAMES`) of consecutive local dates, float64.

    ``dates`` must be consecutive days; blocks and distances are found within them, so give
    a margin beyond the days of interest (:data:`CALENDAR_MARGIN`). Columns: weekday (0 =
    Monday), day type code, make-up working day (0/1), holiday category of the day's block,
    Golden Week (0/1), inside a holiday block (0/1), days into the block (0 = first day, -1
    outside), days left in it (0 = last day, -1 outside), the block's length (0 outside), days
    until the next block starts (0 inside, capped at :data:`DISTANCE_CAP`), days since the last
    block ended (0 inside, capped), the next block's category, month, season (0 = winter Dec-Feb
    .. 3 = autumn), day of the year.

    >>> cal = calendar_frame(pd.date_range("2025-09-27", "2025-10-12"))
    >>> cal.loc["2025-10-01", ["cal_holiday", "cal_golden_week", "cal_block_len"]].tolist()
    [7.0, 1.0, 8.0]
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
    return frame[list(DAY_CALENDAR_NAMES)].astype(np.float64)


def calendar_for(dates: pd.DatetimeIndex, days_ahead: int) -> pd.DataFrame:
    """:func:`calendar_frame` over ``dates`` extended by ``days_ahead`` days (the longest
    horizon) plus :data:`CALENDAR_MARGIN` on both sides; index = every date covered."""
    start = dates[0] - pd.Timedelta(days=CALENDAR_MARGIN)
    end = dates[-1] + pd.Timedelta(days=days_ahead + CALENDAR_MARGIN)
    return calendar_frame(pd.date_range(start, end, freq="D"))


def day_calendar(days: np.ndarray, margin: int = CALENDAR_MARGIN) -> dict[str, np.ndarray]:
    """The :func:`calendar_frame` columns of local day numbers ``days`` (days since
    1970-01-01, any order), each float64 ``(len(days),)``, from a table of the days between
    them plus ``margin`` days either side (cached: the live engine asks for the same days)."""
    days = np.asarray(days, np.int64)
    if not len(days):
        return {name: np.empty(0) for name in DAY_CALENDAR_NAMES}
    first = int(days.min()) - margin
    table = _day_table(first, int(days.max()) + margin)
    rows = days - first
    return {name: table[:, j][rows] for j, name in enumerate(DAY_CALENDAR_NAMES)}


@lru_cache(maxsize=64)
def _day_table(first_day: int, last_day: int) -> np.ndarray:
    """``(days, F)`` read-only :func:`calendar_frame` of local days ``first_day .. last_day``."""
    dates = pd.date_range(pd.Timestamp(first_day, unit="D"), periods=last_day - first_day + 1,
                          freq="D")
    table = calendar_frame(dates).to_numpy(np.float64)
    table.flags.writeable = False
    return table


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
