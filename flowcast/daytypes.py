"""China's working calendar: public holidays and make-up working days (调休).

A date is one of four day types: a plain workday, a weekend day, a public holiday, or a
make-up working day (a Saturday or Sunday that the State Council turns into a workday to
bridge a holiday). Both traffic and tourism depend on it far more than on the weekday.

The official schedule comes from the ``chinese_calendar`` package, which knows the published
years. For a year it does not know yet, :func:`day_types` falls back to weekends plus the
fixed-date holidays (New Year, Labour Day, National Day week) and reports the fallback in
``is_calendar_known``.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar
import numpy as np
import pandas as pd

WORKDAY, WEEKEND, HOLIDAY, MAKEUP_WORKDAY = 0, 1, 2, 3
DAY_TYPE_NAMES: tuple[str, ...] = ("workday", "weekend", "holiday", "makeup_workday")

_FIXED_HOLIDAYS: frozenset[tuple[int, int]] = frozenset(
    [(1, 1), (5, 1), (5, 2), (5, 3)] + [(10, d) for d in range(1, 8)]
)


@lru_cache(maxsize=8192)
def day_type(date: dt.date) -> int:
    """Day type code (``WORKDAY``, ``WEEKEND``, ``HOLIDAY``, ``MAKEUP_WORKDAY``) of a local date."""
    weekend = date.weekday() >= 5
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(date)
    except NotImplementedError:
        if (date.month, date.day) in _FIXED_HOLIDAYS:
            return HOLIDAY
        return WEEKEND if weekend else WORKDAY
    if on_holiday:
        return HOLIDAY if name is not None else WEEKEND
    return MAKEUP_WORKDAY if weekend else WORKDAY


@lru_cache(maxsize=256)
def is_calendar_known(year: int) -> bool:
    """Whether the official holiday schedule of ``year`` is known (else a fallback is used)."""
    try:
        chinese_calendar.is_holiday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def day_types(local_dates: np.ndarray | pd.DatetimeIndex) -> np.ndarray:
    """Day type codes (int8) for an array of local dates or datetimes, same shape.

    Works per distinct date, so a month of 5-minute timestamps costs 31 look-ups.
    """
    index = pd.DatetimeIndex(np.asarray(local_dates).ravel()).normalize()
    unique, inverse = np.unique(index.values, return_inverse=True)
    codes = np.array([day_type(pd.Timestamp(d).date()) for d in unique], dtype=np.int8)
    return codes[inverse].reshape(np.shape(local_dates))


def holiday_name(date: dt.date) -> str | None:
    """The English name of the public holiday on ``date`` (e.g. 'National Day'), else None."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(date)
    except NotImplementedError:
        return None
    return name if on_holiday else None


def is_day_off(codes: np.ndarray) -> np.ndarray:
    """True where the day type is a weekend day or a holiday (make-up days are workdays)."""
    return (codes == WEEKEND) | (codes == HOLIDAY)
