"""Time-of-day and day-type demand profiles for roads and scenic spots.

Road demand is ``capacity x base ratio(class) x profile(day kind, class, minute)`` with the
profile near 1.0 at the workday peaks. Day kinds: workdays (make-up working days included)
have sharp AM (07:30-09:00) and PM (17:30-19:00) commuter peaks; weekends a flatter, later
daytime plateau; holidays a plateau with weaker commuter peaks (tourist traffic toward the
spots is added separately). On the first and last day of a holiday, expressways carry the
outbound (morning) and homebound (afternoon) surge.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from flowcast.city import ROAD_CLASSES
from flowcast.daytypes import HOLIDAY, MAKEUP_WORKDAY, WEEKEND, WORKDAY, day_type, holiday_name

WORK, REST, HOLI = 0, 1, 2
"""Profile kinds: workday (incl. make-up days), weekend, holiday."""

BASE_RATIO: dict[str, float] = {
    "expressway": 0.72,
    "arterial": 0.75,
    "secondary": 0.68,
    "branch": 0.58,
}
"""Mean peak demand as a fraction of capacity, by road class."""

_NIGHT_FLOOR: dict[str, float] = {"expressway": 0.10, "arterial": 0.05, "secondary": 0.04,
                                  "branch": 0.03}
_GOLDEN_HOLIDAYS = ("National Day", "Spring Festival")

SPOT_LEVEL: dict[int, float] = {WORKDAY: 0.35, MAKEUP_WORKDAY: 0.32, WEEKEND: 0.6, HOLIDAY: 0.8}
"""Expected peak saturation of the most popular spot, by day type."""

GOLDEN_WEEK_LEVEL: tuple[float, ...] = (1.0, 1.2, 1.25, 1.2, 1.1, 0.95, 0.8)
"""Expected peak saturation of the most popular spot on each day of a golden week."""


@dataclass(frozen=True)
class DayContext:
    """What kind of day a local date is, for demand purposes."""

    date: dt.date
    day_type: int
    kind: int  # WORK, REST or HOLI
    first_of_holiday: bool
    last_of_holiday: bool
    golden_day: int  # 1-based day within a National Day / Spring Festival holiday, else 0

    @property
    def spot_level(self) -> float:
        """Expected peak saturation of the most popular spot on this day."""
        if self.golden_day:
            return GOLDEN_WEEK_LEVEL[min(self.golden_day, len(GOLDEN_WEEK_LEVEL)) - 1]
        return SPOT_LEVEL[self.day_type]


@lru_cache(maxsize=1024)
def day_context(date: dt.date) -> DayContext:
    """The :class:`DayContext` of a local date (China's holidays and make-up working days)."""
    code = day_type(date)
    kind = {WORKDAY: WORK, MAKEUP_WORKDAY: WORK, WEEKEND: REST, HOLIDAY: HOLI}[code]
    one = dt.timedelta(days=1)
    golden = 0
    if code == HOLIDAY and holiday_name(date) in _GOLDEN_HOLIDAYS:
        golden = 1
        while day_type(date - golden * one) == HOLIDAY and golden < 10:
            golden += 1
    return DayContext(
        date=date,
        day_type=code,
        kind=kind,
        first_of_holiday=code == HOLIDAY and day_type(date - one) != HOLIDAY,
        last_of_holiday=code == HOLIDAY and day_type(date + one) != HOLIDAY,
        golden_day=golden,
    )


def _gauss(minutes: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((minutes - centre) / width) ** 2)


def _window(minutes: np.ndarray, begin: float, end: float, edge: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(minutes - begin) / edge)) / (1.0 + np.exp((minutes - end) / edge))


def road_profile(kind: int, road_class: str, minutes: np.ndarray) -> np.ndarray:
    """Relative road demand (about 1.0 at a workday peak) at local ``minutes`` after midnight
    for a profile kind (``WORK``, ``REST``, ``HOLI``) and a road class; shape of ``minutes``."""
    m = np.asarray(minutes, dtype=np.float64)
    floor = _NIGHT_FLOOR[road_class]
    if kind == WORK:
        return (floor + 0.50 * _window(m, 375, 1290, 30) + 0.50 * _gauss(m, 495, 35)
                + 0.50 * _gauss(m, 1095, 45))
    if kind == REST:
        return (floor + 0.55 * _window(m, 450, 1350, 45) + 0.20 * _gauss(m, 660, 100)
                + 0.20 * _gauss(m, 1050, 110))
    return (floor + 0.46 * _window(m, 480, 1350, 45) + 0.12 * _gauss(m, 630, 110)
            + 0.12 * _gauss(m, 1020, 120))


@lru_cache(maxsize=4)
def road_profile_table() -> np.ndarray:
    """Profiles at one-minute resolution: float64 ``(3 kinds, 4 classes, 1440 minutes)``."""
    minutes = np.arange(1440, dtype=np.float64)
    return np.stack([np.stack([road_profile(kind, c, minutes) for c in ROAD_CLASSES])
                     for kind in (WORK, REST, HOLI)])


def expressway_surge(ctx: DayContext, minute: float) -> float:
    """Extra expressway demand factor on the first (outbound, morning) and last (homebound,
    afternoon) day of a holiday; 1.0 otherwise."""
    surge = 1.0
    if ctx.first_of_holiday:
        surge += 0.45 * float(np.exp(-0.5 * ((minute - 600) / 120) ** 2))
    if ctx.last_of_holiday:
        surge += 0.45 * float(np.exp(-0.5 * ((minute - 1020) / 150) ** 2))
    return surge


def spot_arrival_shape(minutes: np.ndarray, opens: float, last_entry: float) -> np.ndarray:
    """Unnormalised arrival intensity of a scenic spot at local ``minutes``: a morning surge
    peaking 09:30-11:30 and a smaller afternoon wave, zero outside ``[opens, last_entry)``."""
    m = np.asarray(minutes, dtype=np.float64)
    shape = 0.75 * _gauss(m, 630, 70) + 0.35 * _gauss(m, 870, 110) + 0.05
    return np.where((m >= opens) & (m < last_entry), shape, 0.0)
