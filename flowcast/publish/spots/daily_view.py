"""The day view of every spot: arrivals so far today, the day's expected total, and daily
saturation (expected arrivals ÷ daily carrying capacity), today and tomorrow.

Method (``"same-day-type profile"``, ``docs/alerts.md`` "Daily saturation"), all spots at once
from the spot history ring (arrivals per bucket, about 8 days):

- **today** is the local date of the issue time; ``so_far`` sums today's closed buckets;
- the **reference day** is, per spot, the most recent earlier day the ring holds whole, with
  the same day type as today (holiday / weekend / workday; a make-up working day counts as a
  workday), else yesterday, else none;
- ``expected = so_far + remaining x ratio``: ``remaining`` is what the reference day received
  from the issue's time of day to its end, ``ratio`` is today's ``so_far`` over the reference
  day's arrivals by the same time of day, clipped to ``[min_ratio, max_ratio]``; the ratio is 1
  until today's arrivals have run for ``min_scale_min`` minutes (an early trickle says little);
- **tomorrow** is the whole total of the most recent day the ring holds of tomorrow's day type
  (no fallback: NaN when the ring has none).

A day the ring holds "whole" has every bucket of its local day in the ring and at least one
gate reading from the spot. Unknown values are NaN. Buckets of today the ring does not hold
count as zero, unless it holds none of them (then ``so_far`` is NaN).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from flowcast.daytypes import HOLIDAY, WEEKEND, day_type

DAY_MS = 86_400_000
METHOD = "same-day-type profile"
_EPOCH = dt.date(1970, 1, 1)
_WORKDAY_GROUP, _WEEKEND_GROUP, _HOLIDAY_GROUP = 0, 1, 2


@dataclass(frozen=True)
class DayViewParams:
    """Tuning of the profile scaling: the clip range of today's pace ratio, and how many
    minutes of arrivals today needs before the ratio is applied."""

    min_ratio: float = 0.25
    max_ratio: float = 4.0
    min_scale_min: float = 60.0


@dataclass
class DayView:
    """The day view of ``K`` spots at one issue time. Arrays are ``(K,)``: float64 arrivals
    (people through the gates) and saturation ratios, NaN when unknown; the reference dates
    are ISO date strings or None (object arrays)."""

    date: dt.date
    tomorrow: dt.date
    capacity_daily: np.ndarray
    arrivals_so_far: np.ndarray
    expected_arrivals: np.ndarray
    saturation: np.ndarray
    reference_date: np.ndarray
    tomorrow_expected_arrivals: np.ndarray
    tomorrow_saturation: np.ndarray
    tomorrow_reference_date: np.ndarray
    method: str = METHOD


def day_type_group(date: dt.date) -> int:
    """0 workday (make-up working days included), 1 weekend, 2 public holiday."""
    code = day_type(date)
    if code == HOLIDAY:
        return _HOLIDAY_GROUP
    if code == WEEKEND:
        return _WEEKEND_GROUP
    return _WORKDAY_GROUP


def _date(epoch_day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(epoch_day))


def day_view(arrivals: np.ndarray, count: np.ndarray, first_bucket: int, bucket_s: int,
             utc_offset_min: int, capacity_daily: np.ndarray,
             params: DayViewParams | None = None) -> DayView:
    """The day view at the end of the window (issue time ``(first_bucket + L) * bucket_s``).

    ``arrivals``: ``(K, L)`` arrivals per bucket of buckets ``first_bucket ..
    first_bucket + L - 1`` (NaN where the ring does not hold the bucket); ``count``: ``(K, L)``
    readings per bucket; ``utc_offset_min``: the city's offset from UTC (minutes);
    ``capacity_daily``: ``(K,)`` arrivals per day. See the module docstring for the method."""
    p = params or DayViewParams()
    arrivals = np.asarray(arrivals, np.float32)
    k_spots, length = arrivals.shape
    if length < 1:
        raise ValueError("the day view needs a window of at least one bucket")
    bucket_ms = bucket_s * 1000
    offset_ms = int(utc_offset_min) * 60_000
    start_local = (first_bucket + np.arange(length, dtype=np.int64)) * bucket_ms + offset_ms
    issue_local = (first_bucket + length) * bucket_ms + offset_ms
    today, now_of_day = divmod(issue_local, DAY_MS)
    bucket_day = start_local // DAY_MS
    first_day = int(bucket_day[0])
    before_now = (start_local % DAY_MS) < now_of_day  # (L,) same time of day, earlier
    held = ~np.isnan(arrivals)
    filled = np.where(held, arrivals, np.float32(0.0))
    days, total, by_now, missing, reported = _per_day(filled, held, np.asarray(count) > 0,
                                                      bucket_day, before_now, today)
    # a day is whole when the window starts at or before its midnight and it ended before now
    whole_span = (days < today) & ((days > first_day) | (start_local[0] % DAY_MS == 0))
    usable = whole_span[None, :] & ~missing & reported  # (K, D)
    groups = np.array([day_type_group(_date(d)) for d in days], np.int8)

    # today so far, and whether today's arrivals have run long enough to scale the profile
    today_cols = bucket_day == today
    so_far = total[:, -1].copy()
    if today_cols.any():
        so_far[~held[:, today_cols].any(axis=1)] = np.nan
    flowing = (filled > 0) & today_cols[None, :]
    any_flow = flowing.any(axis=1)
    first_flow = np.argmax(flowing, axis=1)
    ran_ms = np.where(any_flow, (length - first_flow) * bucket_ms, 0)
    scale = any_flow & (ran_ms >= p.min_scale_min * 60_000)

    today_group = day_type_group(_date(today))
    ref = _most_recent(usable & (groups == today_group)[None, :], days)
    yesterday = np.flatnonzero(days == today - 1)
    if yesterday.size:
        fallback = (ref < 0) & usable[:, yesterday[0]]
        ref = np.where(fallback, yesterday[0], ref)
    has_ref = ref >= 0
    rows = np.arange(k_spots)
    col = np.maximum(ref, 0)
    ref_total = np.where(has_ref, total[rows, col], np.nan)
    ref_by_now = np.where(has_ref, by_now[rows, col], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        pace = np.clip(so_far / ref_by_now, p.min_ratio, p.max_ratio)
    ratio = np.where(scale & (ref_by_now > 0) & np.isfinite(pace), pace, 1.0)
    expected = so_far + (ref_total - ref_by_now) * ratio

    tomorrow_group = day_type_group(_date(today + 1))
    t_ref = _most_recent(usable & (groups == tomorrow_group)[None, :], days)
    t_expected = np.where(t_ref >= 0, total[rows, np.maximum(t_ref, 0)], np.nan)

    capacity = np.asarray(capacity_daily, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = np.where(capacity > 0, capacity, np.nan)
        saturation, t_saturation = expected / cap, t_expected / cap
    return DayView(date=_date(today), tomorrow=_date(today + 1), capacity_daily=capacity,
                   arrivals_so_far=so_far, expected_arrivals=expected, saturation=saturation,
                   reference_date=_iso_dates(ref, days),
                   tomorrow_expected_arrivals=t_expected, tomorrow_saturation=t_saturation,
                   tomorrow_reference_date=_iso_dates(t_ref, days))


def _per_day(filled: np.ndarray, held: np.ndarray, reported: np.ndarray,
             bucket_day: np.ndarray, before_now: np.ndarray, today: int,
             ) -> tuple[np.ndarray, ...]:
    """Per local day of the window (the ``(D,)`` epoch days, oldest first, today last): the
    ``(K, D)`` arrivals ``total`` and ``by_now`` (before the issue's time of day) as float64,
    and whether a bucket is ``missing`` / any bucket ``reported`` (bool). Sums run in float32
    like the ring: whole counts add up exactly below 2**24 arrivals a day."""
    starts = np.flatnonzero(np.diff(bucket_day, prepend=bucket_day[0] - 1))
    days = bucket_day[starts]
    total = np.add.reduceat(filled, starts, axis=1).astype(np.float64)
    by_now = np.add.reduceat(filled * before_now, starts, axis=1).astype(np.float64)
    missing = np.logical_or.reduceat(~held, starts, axis=1)
    any_report = np.logical_or.reduceat(reported, starts, axis=1)
    if days[-1] == today:
        return days, total, by_now, missing, any_report
    # issued at midnight: today has no closed bucket yet
    return (np.append(days, today),
            *(np.pad(x, ((0, 0), (0, 1))) for x in (total, by_now, missing, any_report)))


def _most_recent(candidates: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Column of the latest candidate day per row of ``(K, D)`` ``candidates``; -1 if none."""
    if candidates.shape[1] == 0:
        return np.full(candidates.shape[0], -1, np.int64)
    last = candidates.shape[1] - 1 - np.argmax(candidates[:, ::-1], axis=1)
    return np.where(candidates.any(axis=1), last, -1)


def _iso_dates(columns: np.ndarray, days: np.ndarray) -> np.ndarray:
    """ISO date strings of ``days[columns]`` (None where the column is -1), object array."""
    names = np.array([_date(int(d)).isoformat() for d in days] + [None], dtype=object)
    return names[np.where(columns >= 0, columns, len(days))]
