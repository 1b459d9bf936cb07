"""Time-of-day profiles and the day calendar behind road and spot demand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from flowcast.daytypes import HOLIDAY, MAKEUP_WORKDAY, WEEKEND, WORKDAY
from flowcast.ingest.simulator.demand import (
    HOLI,
    REST,
    WORK,
    day_context,
    expressway_surge,
    road_profile,
    road_profile_table,
    spot_arrival_shape,
)


def _at(kind: int, hhmm: float, road_class: str = "arterial") -> float:
    hours, minutes = divmod(hhmm, 1)
    return float(road_profile(kind, road_class, np.array([hours * 60 + minutes * 100]))[0])


def test_workday_has_am_and_pm_peaks() -> None:
    for peak in (7.45, 8.15, 8.45, 17.45, 18.15, 18.45):
        assert _at(WORK, peak) > 1.3 * _at(WORK, 13.00)
        assert _at(WORK, peak) > 5 * _at(WORK, 3.00)
    minutes = np.arange(1440)
    profile = road_profile(WORK, "arterial", minutes)
    am, pm = np.argmax(profile[:720]), 720 + np.argmax(profile[720:])
    assert 7 * 60 + 30 <= am <= 9 * 60
    assert 17 * 60 + 30 <= pm <= 19 * 60


def test_weekend_is_flatter_and_later() -> None:
    minutes = np.arange(1440)
    work = road_profile(WORK, "arterial", minutes)
    rest = road_profile(REST, "arterial", minutes)
    assert rest.max() / rest[13 * 60] < 1.2 < work.max() / work[13 * 60]
    assert _at(REST, 7.30) < 0.6 * _at(WORK, 7.30)
    assert _at(REST, 8.15) < _at(WORK, 8.15)


def test_holiday_commuter_peaks_are_weaker() -> None:
    assert _at(HOLI, 8.15) < 0.7 * _at(WORK, 8.15)
    assert _at(HOLI, 18.15) < 0.7 * _at(WORK, 18.15)


def test_table_matches_profiles() -> None:
    table = road_profile_table()
    assert table.shape == (3, 4, 1440)
    assert table[WORK, 1, 495] == pytest.approx(_at(WORK, 8.15))
    assert np.all(table[:, 0, 180] > table[:, 3, 180])  # expressways carry more night freight


@pytest.mark.parametrize(("date", "code", "kind"), [
    (dt.date(2026, 9, 29), WORKDAY, WORK),
    (dt.date(2026, 10, 10), MAKEUP_WORKDAY, WORK),
    (dt.date(2026, 9, 20), MAKEUP_WORKDAY, WORK),
    (dt.date(2026, 10, 11), WEEKEND, REST),
    (dt.date(2026, 10, 3), HOLIDAY, HOLI),
])
def test_day_kinds(date: dt.date, code: int, kind: int) -> None:
    ctx = day_context(date)
    assert (ctx.day_type, ctx.kind) == (code, kind)


def test_golden_week_and_holiday_edges() -> None:
    first, third, last = (day_context(dt.date(2026, 10, d)) for d in (1, 3, 7))
    assert first.first_of_holiday and not first.last_of_holiday
    assert last.last_of_holiday and not third.first_of_holiday
    assert (first.golden_day, third.golden_day, last.golden_day) == (1, 3, 7)
    mid_autumn = day_context(dt.date(2026, 9, 26))
    assert mid_autumn.day_type == HOLIDAY and mid_autumn.golden_day == 0
    assert day_context(dt.date(2026, 2, 18)).golden_day > 0  # Spring Festival
    # spots: golden week > holiday > weekend > workday
    levels = [day_context(dt.date(2026, m, d)).spot_level
              for m, d in ((10, 3), (9, 26), (10, 11), (9, 29))]
    assert levels == sorted(levels, reverse=True)


def test_expressway_surge_on_first_and_last_holiday_days() -> None:
    first, last, plain = (day_context(dt.date(2026, 10, d)) for d in (1, 7, 3))
    assert expressway_surge(first, 600) > 1.3
    assert expressway_surge(last, 1020) > 1.3
    assert expressway_surge(first, 1020) < expressway_surge(first, 600)
    assert expressway_surge(plain, 600) == 1.0


def test_spot_arrivals_surge_in_the_morning_within_hours() -> None:
    minutes = np.arange(1440, dtype=np.float64)
    shape = spot_arrival_shape(minutes, 480.0, 1020.0)
    assert np.all(shape[:480] == 0) and np.all(shape[1020:] == 0)
    assert 9 * 60 + 30 <= np.argmax(shape) <= 11 * 60 + 30
