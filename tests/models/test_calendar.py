"""China's calendar as features: the bucket table of the road features (time of day in local
time, daylight saving, day types and holiday distances around National Day) and the day calendar
of the spot and daily models (holiday blocks, Golden Weeks, make-up days)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from road_features_harness import BUCKET_S, TZ, holiday_days, random_history

from flowcast import daytypes
from flowcast.models.calendar import (
    BUCKET_CALENDAR_NAMES,
    DAY_CALENDAR_NAMES,
    calendar_for,
    calendar_frame,
    calendar_table,
    day_calendar,
    utc_offset_of,
    utc_offsets,
)
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.matrices import training_matrix

CAL = {name: i for i, name in enumerate(BUCKET_CALENDAR_NAMES)}


# ----- per bucket: the road features -----------------------------------------------------------


def test_calendar_around_national_day_and_a_makeup_workday() -> None:
    days = pd.date_range("2025-09-27", "2025-10-12", freq="D", tz=TZ)
    local_noon = days + pd.Timedelta(hours=12)
    buckets = local_noon.as_unit("s").asi8 // BUCKET_S
    cal = calendar_table(buckets, BUCKET_S, TZ, holiday_cap_days=9)
    types = cal[:, CAL["daytype"]].astype(int).tolist()
    assert types[:2] == [daytypes.WEEKEND, daytypes.MAKEUP_WORKDAY]  # Sat 27th, Sun 28th
    assert types[4:12] == [daytypes.HOLIDAY] * 8  # Oct 1-8
    assert types[14] == daytypes.MAKEUP_WORKDAY  # Sat Oct 11
    assert np.all(cal[:, CAL["tod_bucket"]] == 144)  # local noon in a zone without DST
    np.testing.assert_allclose(cal[:, CAL["tod_sin"]], 0.0, atol=1e-7)
    np.testing.assert_array_equal(cal[:, CAL["tod_cos"]], -1.0)
    np.testing.assert_array_equal(cal[:, CAL["dow"]], [d.weekday() for d in days])
    for i, d in enumerate(days):
        assert tuple(cal[i, 5:]) == holiday_days(d.date(), 9)
    assert cal[0, CAL["days_to_holiday"]] == 4 and cal[-1, CAL["days_from_holiday"]] == 4


def test_time_of_day_is_local_and_runs_over_midnight() -> None:
    # 2025-10-08 23:55 local is a holiday; five minutes later a workday begins
    last = pd.Timestamp("2025-10-08 23:55", tz=TZ)
    b = int(last.timestamp()) // BUCKET_S
    cal = calendar_table(np.array([b, b + 1]), BUCKET_S, TZ)
    assert cal[0, CAL["tod_bucket"]] == 287 and cal[1, CAL["tod_bucket"]] == 0
    assert cal[0, CAL["daytype"]] == daytypes.HOLIDAY
    assert cal[1, CAL["daytype"]] == daytypes.WORKDAY
    spec = FeatureSpec(lags=(1,), windows=(), seasonal=(), neighbour_lags=(), flags=(),
                       imputed_window=0, static=())
    h = random_history(n=2, t=3, start_bucket=b - 1)
    x, _, _ = training_matrix(h, spec, [1])
    np.testing.assert_array_equal(x[:, 3], [286, 286, 287, 287, 0, 0])  # tod_bucket
    np.testing.assert_allclose(x[4, 1:3], [0.0, 1.0], atol=1e-7)  # sin, cos at midnight
    np.testing.assert_array_equal(x[:, 5], [daytypes.HOLIDAY] * 4 + [daytypes.WORKDAY] * 2)


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Asia/Kolkata"])
def test_time_of_day_follows_daylight_saving_in_other_zones(zone: str) -> None:
    # a day either side of both 2025 transitions, every 15 minutes (I-94 is in Minnesota)
    spring = pd.date_range("2025-03-08", "2025-03-11", freq="15min", tz="UTC")
    autumn = pd.date_range("2025-10-25", "2025-11-03", freq="15min", tz="UTC")
    starts = np.concatenate([spring.as_unit("s").asi8, autumn.as_unit("s").asi8])
    cal = calendar_table(starts // 900, 900, zone)
    local = [dt.datetime.fromtimestamp(int(x), ZoneInfo(zone)) for x in starts]
    np.testing.assert_array_equal(cal[:, CAL["tod_bucket"]],
                                  [(t.hour * 3600 + t.minute * 60) // 900 for t in local])
    np.testing.assert_array_equal(cal[:, CAL["dow"]], [t.weekday() for t in local])


# ----- per local day: the spot and daily features ----------------------------------------------

def calendar(start: str, end: str) -> pd.DataFrame:
    days = pd.date_range(start, end)
    return calendar_for(days, 0).loc[start:end]


def test_golden_week_2025_with_mid_autumn_inside() -> None:
    cal = calendar("2025-09-25", "2025-10-15")
    week = cal.loc["2025-10-01":"2025-10-08"]
    assert (week["cal_in_block"] == 1).all() and (week["cal_golden_week"] == 1).all()
    # Oct 6 is officially Mid-Autumn, but the block is National Day's Golden Week
    assert (week["cal_holiday"] == 7).all()
    assert week["cal_block_day"].tolist() == list(range(8))
    assert week["cal_block_left"].tolist() == list(range(7, -1, -1))
    assert (week["cal_block_len"] == 8).all()
    for makeup in ("2025-09-28", "2025-10-11"):  # a Sunday and a Saturday worked
        assert cal.at[makeup, "cal_makeup"] == 1 and cal.at[makeup, "cal_in_block"] == 0
    assert cal.at["2025-09-30", "cal_days_to_block"] == 1
    assert cal.at["2025-09-30", "cal_next_holiday"] == 7
    assert cal.at["2025-10-10", "cal_days_since_block"] == 2
    assert cal.at["2025-10-09", "cal_in_block"] == 0 and cal.at["2025-10-09", "cal_holiday"] == 0


def test_golden_weeks_of_2026() -> None:
    cal = calendar("2026-02-01", "2026-10-15")
    spring = cal.loc["2026-02-15":"2026-02-23"]
    assert (spring["cal_holiday"] == 2).all() and (spring["cal_golden_week"] == 1).all()
    assert (spring["cal_block_len"] == 9).all()
    assert cal.at["2026-02-14", "cal_makeup"] == 1 and cal.at["2026-02-24", "cal_in_block"] == 0
    national = cal.loc["2026-10-01":"2026-10-07"]
    assert (national["cal_holiday"] == 7).all() and (national["cal_block_len"] == 7).all()
    assert cal.at["2026-10-08", "cal_in_block"] == 0
    assert cal.at["2026-09-20", "cal_makeup"] == 1 and cal.at["2026-10-10", "cal_makeup"] == 1
    autumn = cal.loc["2026-09-25":"2026-09-27"]  # Mid-Autumn, a long weekend, not Golden Week
    assert (autumn["cal_holiday"] == 6).all() and (autumn["cal_golden_week"] == 0).all()
    labour = cal.loc["2026-05-01":"2026-05-05"]
    assert (labour["cal_holiday"] == 4).all()
    assert cal.at["2026-09-28", "cal_days_to_block"] == 3  # until National Day


def test_a_plain_weekend_is_not_a_holiday_block() -> None:
    cal = calendar("2025-11-10", "2025-11-20")
    assert cal.at["2025-11-15", "cal_day_type"] == 1 and cal.at["2025-11-15", "cal_in_block"] == 0


def test_day_numbers_read_the_same_calendar_as_dates() -> None:
    """The spot model's day numbers and the daily model's dates give the same rows: one
    encoder, whatever the caller holds."""
    dates = pd.date_range("2025-09-20", "2026-02-28")
    days = (dates - pd.Timestamp("1970-01-01")).days.to_numpy()
    frame = calendar_for(dates, 0).loc[dates]
    rows = day_calendar(days[::-1])  # any order
    for name in DAY_CALENDAR_NAMES:
        np.testing.assert_array_equal(rows[name][::-1], frame[name].to_numpy(), err_msg=name)
    national_day = int((pd.Timestamp("2025-10-01") - pd.Timestamp("1970-01-01")).days)
    one = day_calendar(np.array([national_day, national_day + 7, national_day + 10]))
    assert one["cal_golden_week"].tolist() == [1.0, 1.0, 0.0]
    assert one["cal_block_day"].tolist() == [0.0, 7.0, -1.0]
    assert one["cal_makeup"].tolist() == [0.0, 0.0, 1.0]  # Saturday 11 October is worked
    assert all(len(v) == 0 for v in day_calendar(np.array([], np.int64)).values())


def test_utc_offsets_follow_the_zone() -> None:
    assert utc_offset_of("Asia/Shanghai") == 480
    assert utc_offset_of("Asia/Kolkata") == 330
    winter, summer = pd.Timestamp("2025-01-15", tz="UTC"), pd.Timestamp("2025-07-15", tz="UTC")
    epoch_s = np.array([[int(winter.timestamp()), int(summer.timestamp())]] * 2, np.int64)
    np.testing.assert_array_equal(utc_offsets(epoch_s, "Europe/London"), [[0, 3600]] * 2)
    np.testing.assert_array_equal(utc_offsets(epoch_s, TZ), np.full((2, 2), 8 * 3600))
    assert calendar_frame(pd.date_range("2025-10-01", periods=1)).columns.tolist() == list(
        DAY_CALENDAR_NAMES)
    assert BUCKET_CALENDAR_NAMES == ("tod_sin", "tod_cos", "tod_bucket", "dow", "daytype",
                                     "days_to_holiday", "days_from_holiday")
