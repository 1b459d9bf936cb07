"""The pieces of a screen's destination status: the spots an alert's instruction names, local
times as people write them, and when a spot's limit starts."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from live_harness import MORNING_MS

from flowcast.serve.destination import limit_from, local_time, spots_named

T = MORNING_MS
HAIKOU = ZoneInfo("Asia/Shanghai")
NAMES = {"yalong-bay": "Yalong Bay", "yalong-bay-2": "Yalong Bay 2",
         "wuzhizhou-island": "Wuzhizhou Island", "tianya": "Tianya Haijiao"}


def test_spots_named_in_order_longest_names_first() -> None:
    text = ("Close the entrances of Wuzhizhou Island now (100% of capacity) and hold arrivals "
            "outside; direct arrivals to Yalong Bay 2 (40%), Tianya Haijiao (50%).")
    assert spots_named(text, NAMES) == ["wuzhizhou-island", "yalong-bay-2", "tianya"]
    assert spots_named("direct arrivals to Yalong Bay (40%)", NAMES) == ["yalong-bay"]
    assert spots_named("no other spot has spare capacity", NAMES) == []
    assert spots_named("Tianya Haijiao, then Tianya Haijiao again", NAMES) == ["tianya"]


def test_local_times_as_people_write_them() -> None:
    assert dt.datetime.fromtimestamp(T / 1000, tz=HAIKOU).hour == 9
    assert local_time(T + 2 * 3_600_000 + 15 * 60_000, T, HAIKOU) == "11:15"
    assert local_time(T + 24 * 3_600_000, T, HAIKOU) == "Sat 3 Oct 09:00"
    assert local_time(T - 10 * 3_600_000, T, HAIKOU) == "Thu 1 Oct 23:00"


def test_limit_from_now_the_forecast_or_an_earlier_onset() -> None:
    forecast = {"forecast": [{"valid_at": T + 3_600_000, "saturation": 0.7},
                             {"valid_at": T + 7_200_000, "saturation": 1.02},
                             {"valid_at": T + 10_800_000, "saturation": 1.2}]}
    figures = {"issued_at": T, "saturation_now": 0.6}
    assert limit_from(figures, forecast, 1.0, None) == T + 7_200_000
    assert limit_from(figures, forecast, 0.65, None) == T + 3_600_000
    assert limit_from(figures, forecast, 1.3, None) is None
    assert limit_from(figures, forecast, 1.0, T - 60_000) == T - 60_000  # the alert's onset
    assert limit_from(figures, forecast, 1.3, T + 60_000) == T + 60_000
    assert limit_from({"issued_at": T, "saturation_now": 1.0}, forecast, 1.0, None) == T
    assert limit_from({"issued_at": None, "saturation_now": None}, None, 1.0, None) is None
