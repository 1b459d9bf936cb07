"""Trend and confidence of road-condition forecasts (``docs/conditions.md``).

Both are computed for every segment and horizon at once, as ``(G, H)`` arrays.

**Trend** compares each forecast with now. The congestion level decides first, because it is
what a guidance screen colours the road with and the arrow must agree with the colour: a worse
forecast level (a higher number) is *worsening*, a better one *improving*. Only when the level
stays the same does the travel time decide, and only when it moves by more than a relative
``tolerance``: a segment that stays "smooth" while its travel time grows by 30 % is worsening,
one whose travel time wiggles by 3 % is steady. Where neither comparison can be made (an
unknown level, level 0, and a NaN travel time) the trend is steady: there is no evidence of a
change. The road cycle never produces such a forecast; it fills gaps with the current speed.

**Confidence** comes from the forecast's speed interval (p10..p90), so only a model with
quantile boosters has one. The relative width ``(p90 - p10) / max(speed, floor)`` maps to a
score in 0..1 (1 for a zero width, 2/3 at ``high_width``, 1/3 at ``low_width``, 0 at twice
``low_width`` and beyond, linear between) and to a label: *high* up to ``high_width``, *low*
above ``low_width``, *medium* between. An interval whose ends fall in different congestion
levels cannot be *high* (the colour on the screen may be wrong); one spanning three or more
levels is *low*; the score is capped to match the label. A NaN in the speed or the interval
gives an *unknown* confidence with a NaN score; without an interval there is no confidence at
all, never an invented one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from flowcast.publish.roads.levels import levels

IMPROVING, STEADY, WORSENING = -1, 0, 1
TREND_NAMES: dict[int, str] = {IMPROVING: "improving", STEADY: "steady", WORSENING: "worsening"}

UNKNOWN, LOW, MEDIUM, HIGH = 0, 1, 2, 3
CONFIDENCE_NAMES: tuple[str | None, ...] = (None, "low", "medium", "high")  # by code; None: unknown

# score at the high/medium and medium/low label boundaries
_HIGH_SCORE, _LOW_SCORE = 2.0 / 3.0, 1.0 / 3.0

_TREND_LOOKUP = np.array([TREND_NAMES[IMPROVING], TREND_NAMES[STEADY], TREND_NAMES[WORSENING]],
                         dtype=object)
_CONFIDENCE_LOOKUP = np.array(CONFIDENCE_NAMES, dtype=object)


class Confidence(NamedTuple):
    """Confidence of ``(G, H)`` forecasts: ``score`` float64 in 0..1 (NaN when unknown) and
    ``label`` int8 codes (:data:`UNKNOWN`, :data:`LOW`, :data:`MEDIUM`, :data:`HIGH`)."""

    score: np.ndarray
    label: np.ndarray


def trends(now_travel_time_s: np.ndarray, now_level: np.ndarray,
           forecast_travel_time_s: np.ndarray, forecast_level: np.ndarray,
           tolerance: float) -> np.ndarray:
    """Trend codes, ``(G, H)`` int8: -1 improving, 0 steady, +1 worsening.

    ``now_*`` are ``(G,)`` (travel times in seconds, levels 1..5 with 0 unknown), ``forecast_*``
    ``(G, H)``; ``tolerance`` is the relative travel-time change (0.1 = 10 %) that a forecast
    at the same level must exceed to count as a change. A known level change always decides.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    now_lv = np.asarray(now_level, dtype=np.int16)[:, None]
    f_lv = np.asarray(forecast_level, dtype=np.int16)
    now_tt = np.asarray(now_travel_time_s, dtype=np.float64)[:, None]
    f_tt = np.asarray(forecast_travel_time_s, dtype=np.float64)
    # NaN comparisons are False, so an unknown travel time never counts as a change
    by_time = np.where(f_tt > now_tt * (1.0 + tolerance), WORSENING,
                       np.where(f_tt < now_tt * (1.0 - tolerance), IMPROVING, STEADY))
    levels_known = (now_lv > 0) & (f_lv > 0)
    by_level = np.sign(f_lv - now_lv)
    return np.where(levels_known & (by_level != 0), by_level, by_time).astype(np.int8)


def trend_names(codes: np.ndarray) -> np.ndarray:
    """``"improving"``/``"steady"``/``"worsening"`` for each trend code, as an object array
    of the same shape."""
    return _TREND_LOOKUP[np.asarray(codes, dtype=np.int64) + 1]


def confidence(forecast_speed: np.ndarray, p10: np.ndarray, p90: np.ndarray,
               road_class: np.ndarray, bands: np.ndarray, *, high_width: float,
               low_width: float, speed_floor_kmh: float) -> Confidence:
    """Confidence of each forecast from its speed interval.

    ``forecast_speed``, ``p10`` and ``p90`` are ``(G, H)`` km/h; ``road_class`` the ``(G,)``
    class codes and ``bands`` the level table (:func:`flowcast.publish.roads.levels.band_table`),
    used to tell whether the interval crosses a level boundary. ``high_width`` <
    ``low_width`` are relative widths; the speed is floored at ``speed_floor_kmh`` so a nearly
    stopped road does not turn any interval into an infinite width.
    """
    if not 0 < high_width < low_width:
        raise ValueError(f"need 0 < high_width < low_width, got {high_width}, {low_width}")
    if speed_floor_kmh <= 0:
        raise ValueError(f"speed_floor_kmh must be > 0, got {speed_floor_kmh}")
    speed = np.asarray(forecast_speed, dtype=np.float64)
    lo = np.asarray(p10, dtype=np.float64)
    hi = np.asarray(p90, dtype=np.float64)
    width = np.abs(hi - lo) / np.maximum(speed, speed_floor_kmh)
    score = np.interp(width, [0.0, high_width, low_width, 2.0 * low_width],
                      [1.0, _HIGH_SCORE, _LOW_SCORE, 0.0])
    label = np.where(width <= high_width, HIGH, np.where(width <= low_width, MEDIUM, LOW))

    classes = np.asarray(road_class, dtype=np.int64)[:, None]
    levels_spanned = np.abs(levels(hi, classes, bands).astype(np.int16)
                            - levels(lo, classes, bands).astype(np.int16))
    crosses_one = levels_spanned == 1
    crosses_more = levels_spanned >= 2
    label = np.where(crosses_one, np.minimum(label, MEDIUM), label)
    label = np.where(crosses_more, LOW, label)
    score = np.where(crosses_one, np.minimum(score, _HIGH_SCORE), score)
    score = np.where(crosses_more, np.minimum(score, _LOW_SCORE), score)

    unknown = np.isnan(width)
    return Confidence(score=np.where(unknown, np.nan, score),
                      label=np.where(unknown, UNKNOWN, label).astype(np.int8))


def confidence_names(codes: np.ndarray) -> np.ndarray:
    """``"high"``/``"medium"``/``"low"`` (``None`` for unknown) for each confidence code, as
    an object array of the same shape."""
    return _CONFIDENCE_LOOKUP[np.asarray(codes, dtype=np.int64)]
