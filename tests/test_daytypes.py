"""China's day types: holidays, weekends and make-up working days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from flowcast.daytypes import (
    HOLIDAY,
    MAKEUP_WORKDAY,
    WEEKEND,
    WORKDAY,
    day_type,
    day_types,
    holiday_name,
    is_calendar_known,
    is_day_off,
)


def test_known_days_of_2025() -> None:
    assert day_type(dt.date(2025, 10, 1)) == HOLIDAY  # National Day
    assert day_type(dt.date(2025, 9, 28)) == MAKEUP_WORKDAY  # a Sunday worked for Golden Week
    assert day_type(dt.date(2025, 10, 11)) == MAKEUP_WORKDAY  # a Saturday worked
    assert day_type(dt.date(2025, 11, 15)) == WEEKEND
    assert day_type(dt.date(2025, 11, 17)) == WORKDAY
    assert holiday_name(dt.date(2025, 10, 3)) == "National Day"
    assert holiday_name(dt.date(2025, 11, 17)) is None


def test_spring_festival_2026() -> None:
    assert day_type(dt.date(2026, 2, 17)) == HOLIDAY
    assert holiday_name(dt.date(2026, 2, 17)) == "Spring Festival"


def test_unknown_year_falls_back_to_weekends_and_fixed_holidays() -> None:
    assert not is_calendar_known(2099)
    assert is_calendar_known(2026)
    assert day_type(dt.date(2099, 10, 2)) == HOLIDAY
    assert day_type(dt.date(2099, 3, 7)) == WEEKEND  # a Saturday
    assert day_type(dt.date(2099, 3, 9)) == WORKDAY


def test_vectorised_day_types_keep_shape() -> None:
    stamps = pd.date_range("2025-09-27", "2025-10-09", freq="5min")
    codes = day_types(stamps)
    assert codes.shape == (len(stamps),) and codes.dtype == np.int8
    by_day = pd.Series(codes, index=stamps).groupby(stamps.date).first()
    assert by_day[dt.date(2025, 9, 28)] == MAKEUP_WORKDAY
    assert (by_day[[dt.date(2025, 10, d) for d in range(1, 9)]] == HOLIDAY).all()
    grid = day_types(np.array([["2025-10-01", "2025-10-09"]], dtype="datetime64[D]"))
    assert grid.tolist() == [[HOLIDAY, WORKDAY]]
    assert is_day_off(np.array([WORKDAY, WEEKEND, HOLIDAY, MAKEUP_WORKDAY])).tolist() == [
        False, True, True, False]
