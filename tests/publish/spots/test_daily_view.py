"""The day view: today's arrivals so far, the expected total from the latest day of the same
day type scaled by today's pace, tomorrow's from its day type, and daily saturation, computed
on hand-built 8-day windows of 15-minute spot buckets in UTC+8."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from flowcast.publish.spots.daily_view import DayView, DayViewParams, day_type_group, day_view

BUCKET_S = 900
PER_DAY = 96
RING = 8 * PER_DAY
OFFSET_MIN = 480
TZ = dt.timezone(dt.timedelta(minutes=OFFSET_MIN))
OPEN_SLOTS = slice(32, 68)  # 08:00-17:00


class Ring:
    """A spot window of ``RING`` buckets ending at ``issue`` (local time), filled per local
    day by ``profile(date) -> (K, 96)`` arrivals per bucket; every bucket reported once."""

    def __init__(self, issue: dt.datetime, spots: int,
                 profile: Callable[[dt.date], np.ndarray]) -> None:
        self.end = int(issue.timestamp()) // BUCKET_S
        self.first = self.end - RING
        self.arrivals = np.empty((spots, RING))
        for date in self.dates():
            self.arrivals[:, self.cols(date)] = profile(date)[:, self.slots(date)]
        self.count = np.ones((spots, RING), np.uint16)

    def _local(self, column: int) -> dt.datetime:
        return dt.datetime.fromtimestamp((self.first + column) * BUCKET_S, TZ)

    def dates(self) -> list[dt.date]:
        """Local dates the window touches, oldest first."""
        first, last = self._local(0).date(), self._local(RING - 1).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def cols(self, date: dt.date) -> slice:
        """Window columns of ``date``."""
        start = int(dt.datetime.combine(date, dt.time(), TZ).timestamp()) // BUCKET_S
        return slice(max(start - self.first, 0), min(start + PER_DAY - self.first, RING))

    def slots(self, date: dt.date) -> slice:
        """Slots of the day (0..95) that :meth:`cols` of ``date`` cover."""
        c = self.cols(date)
        offset = self.first + c.start - int(dt.datetime.combine(date, dt.time(), TZ)
                                            .timestamp()) // BUCKET_S
        return slice(offset, offset + c.stop - c.start)

    def view(self, capacity: list[float], params: DayViewParams | None = None) -> DayView:
        """The day view of this window."""
        return day_view(self.arrivals, self.count, self.first, BUCKET_S, OFFSET_MIN,
                        np.array(capacity, np.float64), params)


def opening(per_bucket: list[float]) -> np.ndarray:
    """``(K, 96)``: each spot's constant arrivals per bucket while open (08:00-17:00)."""
    out = np.zeros((len(per_bucket), PER_DAY))
    out[:, OPEN_SLOTS] = np.array(per_bucket)[:, None]
    return out


def at(date: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(hour, minute), TZ)


OCT = {d: dt.date(2026, 10, d) for d in range(1, 32)}
OPEN_BUCKETS = OPEN_SLOTS.stop - OPEN_SLOTS.start


def test_day_type_groups_follow_chinas_calendar() -> None:
    assert day_type_group(dt.date(2026, 10, 2)) == 2  # National Day
    assert day_type_group(dt.date(2026, 10, 11)) == 1  # a plain Sunday
    assert day_type_group(dt.date(2026, 10, 10)) == 0  # a make-up working Saturday
    assert day_type_group(dt.date(2026, 10, 12)) == 0


def test_a_holiday_follows_the_last_holiday_scaled_by_todays_pace_and_clipped() -> None:
    # Golden Week: 1 October took 100 a bucket; today spot 0 runs at 1.5x, spot 1 at 10x
    def profile(date: dt.date) -> np.ndarray:
        if date == OCT[1]:
            return opening([100, 100])
        if date == OCT[2]:
            return opening([150, 1000])
        return opening([40, 40])  # ordinary workdays before the holiday

    view = Ring(at(OCT[2], 12), 2, profile).view([6000, 20000])
    assert view.date == OCT[2] and view.tomorrow == OCT[3]
    done = 16  # buckets from 08:00 to 12:00
    np.testing.assert_allclose(view.arrivals_so_far, [150 * done, 1000 * done])
    ref_by_now, ref_rest = 100 * done, 100 * (OPEN_BUCKETS - done)
    pace = np.array([1.5, 4.0])  # 10x is clipped to the 4x ceiling
    expected = view.arrivals_so_far + ref_rest * pace
    np.testing.assert_allclose(view.arrivals_so_far / ref_by_now, [1.5, 10.0])
    np.testing.assert_allclose(view.expected_arrivals, expected)
    np.testing.assert_allclose(view.saturation, expected / [6000, 20000])
    assert view.reference_date.tolist() == ["2026-10-01", "2026-10-01"]
    # 3 October is a holiday too: tomorrow is 1 October's whole day, unscaled
    np.testing.assert_allclose(view.tomorrow_expected_arrivals, [100 * OPEN_BUCKETS] * 2)
    np.testing.assert_allclose(view.tomorrow_saturation,
                               np.array([100 * OPEN_BUCKETS] * 2) / [6000, 20000])
    assert view.tomorrow_reference_date.tolist() == ["2026-10-01", "2026-10-01"]
    assert view.method == "same-day-type profile"


def test_a_workday_skips_a_sunday_counts_a_makeup_day_and_skips_days_the_ring_lacks() -> None:
    # each day's arrivals per bucket is its day of the month, so the day used shows
    def profile(date: dt.date) -> np.ndarray:
        return opening([date.day] * 3)

    ring = Ring(at(OCT[12], 10), 3, profile)
    ring.arrivals[1, ring.cols(OCT[10])][40] = np.nan  # the ring lost a bucket of spot 1
    ring.count[2, ring.cols(OCT[10])] = 0  # spot 2's gates were silent on the 10th
    ring.arrivals[2, ring.cols(OCT[10])] = 0.0
    view = ring.view([1000, 1000, 1000])
    # yesterday (Sunday 11th) is a weekend day; Saturday 10th was a make-up working day
    assert view.reference_date.tolist() == ["2026-10-10", "2026-10-09", "2026-10-09"]
    done = 8  # 08:00-10:00
    so_far = 12.0 * done
    np.testing.assert_allclose(view.arrivals_so_far, [so_far] * 3)
    rest = OPEN_BUCKETS - done
    np.testing.assert_allclose(view.expected_arrivals, [
        so_far + 10 * rest * (so_far / (10 * done)),
        so_far + 9 * rest * (so_far / (9 * done)),
        so_far + 9 * rest * (so_far / (9 * done))])
    # tomorrow (Tuesday 13th) is a workday: the same reference days, whole
    assert view.tomorrow_reference_date.tolist() == ["2026-10-10", "2026-10-09", "2026-10-09"]
    np.testing.assert_allclose(view.tomorrow_expected_arrivals,
                               [10 * OPEN_BUCKETS, 9 * OPEN_BUCKETS, 9 * OPEN_BUCKETS])


def test_without_a_day_of_the_same_type_today_falls_back_to_yesterday_tomorrow_to_nan() -> None:
    def profile(date: dt.date) -> np.ndarray:
        return opening([date.day, date.day])

    # Sunday 11th: the ring (3rd..10th) holds holidays and workdays only
    ring = Ring(at(OCT[11], 9), 2, profile)
    ring.arrivals[1, ring.cols(OCT[10])] = np.nan  # spot 1: yesterday is not held either
    view = ring.view([500, 500])
    assert view.reference_date.tolist() == ["2026-10-10", None]
    assert np.isfinite(view.expected_arrivals[0]) and np.isnan(view.expected_arrivals[1])
    assert np.isnan(view.saturation[1]) and view.arrivals_so_far[1] == 11 * 4
    # tomorrow is Monday 12th, a workday: the 10th for spot 0, the 9th for spot 1
    assert view.tomorrow_reference_date.tolist() == ["2026-10-10", "2026-10-09"]

    # make-up Saturday 10th: tomorrow is a Sunday and the ring (2nd..9th) holds none
    view = Ring(at(OCT[10], 9), 2, profile).view([500, 500])
    assert view.reference_date.tolist() == ["2026-10-09", "2026-10-09"]
    assert np.isnan(view.tomorrow_expected_arrivals).all()
    assert np.isnan(view.tomorrow_saturation).all()
    assert view.tomorrow_reference_date.tolist() == [None, None]


def test_the_pace_waits_for_an_hour_of_arrivals() -> None:
    def profile(date: dt.date) -> np.ndarray:
        return opening([300 if date == OCT[2] else 100])

    early = Ring(at(OCT[2], 8, 45), 1, profile).view([9000])  # 3 buckets of arrivals
    np.testing.assert_allclose(early.expected_arrivals,
                               300 * 3 + 100 * (OPEN_BUCKETS - 3))  # unscaled
    hour = Ring(at(OCT[2], 9), 1, profile).view([9000])  # an hour: 3x today's pace
    np.testing.assert_allclose(hour.expected_arrivals, 300 * 4 + 3 * 100 * (OPEN_BUCKETS - 4))
    strict = Ring(at(OCT[2], 9), 1, profile).view([9000], DayViewParams(min_scale_min=90))
    np.testing.assert_allclose(strict.expected_arrivals, 300 * 4 + 100 * (OPEN_BUCKETS - 4))


def test_at_midnight_and_after_closing() -> None:
    def profile(date: dt.date) -> np.ndarray:
        return opening([date.day])

    midnight = Ring(at(OCT[12], 0), 1, profile).view([1000])
    assert midnight.date == OCT[12]
    np.testing.assert_allclose(midnight.arrivals_so_far, 0.0)
    np.testing.assert_allclose(midnight.expected_arrivals, 10 * OPEN_BUCKETS)  # the 10th
    evening = Ring(at(OCT[12], 20), 1, profile).view([1000])
    np.testing.assert_allclose(evening.expected_arrivals, 12 * OPEN_BUCKETS)  # all arrived
    np.testing.assert_allclose(evening.saturation, 12 * OPEN_BUCKETS / 1000)


def test_an_empty_ring_knows_nothing() -> None:
    ring = Ring(at(OCT[12], 10), 2, lambda date: opening([1.0, 1.0]))
    ring.arrivals[:] = np.nan
    ring.count[:] = 0
    view = ring.view([1000, 1000])
    for values in (view.arrivals_so_far, view.expected_arrivals, view.saturation,
                   view.tomorrow_expected_arrivals, view.tomorrow_saturation):
        assert np.isnan(values).all()
    assert view.reference_date.tolist() == [None, None]
