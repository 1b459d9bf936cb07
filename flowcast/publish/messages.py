"""JSON messages of the output topics (DESIGN.md "Wire contracts").

Road conditions, keyed by segment id (fields and rules: ``docs/conditions.md``)::

    {"segment": "G0101", "issued_at": 1764000300000,
     "model": "lightgbm:20251124T093000Z-3f2a9c1e07", "trend": "worsening",
     "now": {"speed": 56.2, "level": 2, "travel_time_s": 70.5, "flow": 120.0,
             "occupancy": 0.11, "imputed_share": 0.0},
     "forecast": [{"horizon_min": 15, "valid_at": 1764001200000, "speed": 46.0, "level": 3,
                   "travel_time_s": 86.1, "speed_p10": 41.5, "speed_p90": 51.0,
                   "trend": "worsening", "confidence": "medium", "confidence_score": 0.67},
                  ...]}

``trend`` (per item: against now; top level: the first horizon's) is ``"improving"``,
``"steady"`` or ``"worsening"``, null only when the conditions carry no trend. ``speed_p10``
and ``speed_p90`` appear only when the model has intervals; ``confidence`` (``"high"``,
``"medium"``, ``"low"``) and ``confidence_score`` (0..1) are null without them.

Spot forecasts, keyed by spot id::

    {"spot": "wuzhizhou", "issued_at": ..., "model": ..., "capacity_instant": 5000,
     "now": {"visitors": 3120, "saturation": 0.624, "arrivals": 410},
     "forecast": [{"horizon_min": 60, "valid_at": ..., "visitors": 3900, "saturation": 0.78},
                  ...]}

A spot model with intervals adds ``visitors_p10`` and ``visitors_p90`` to each forecast item.
The spot cycle adds the day view (:mod:`flowcast.publish.spots.daily_view`; arrivals, dates local,
null when unknown; ``reference_date``: the day of the ring whose profile was used)::

     "day": {"date": "2026-10-02", "arrivals_so_far": 8120, "expected_arrivals": 21500,
             "capacity_daily": 30000, "saturation": 0.717, "reference_date": "2026-10-01",
             "tomorrow": {"date": "2026-10-03", "expected_arrivals": 24800,
                          "saturation": 0.827, "reference_date": "2026-10-01"},
             "method": "same-day-type profile"}

``issued_at`` is the epoch ms end of the closed bucket the message was computed from; together
with the key it identifies the message, so a repeat after a restart is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from flowcast.publish.roads.outlook import confidence_names, trend_names
from flowcast.publish.spots.daily_view import DayView


@dataclass
class RoadConditions:
    """Current and forecast conditions of ``G`` segments for one issue time; arrays are
    ``(G,)`` for now and ``(G, H)`` for forecasts."""

    segment_ids: np.ndarray
    issued_at_ms: int
    horizons_min: np.ndarray
    speed: np.ndarray
    level: np.ndarray
    travel_time_s: np.ndarray
    flow: np.ndarray
    occupancy: np.ndarray
    imputed_share: np.ndarray
    forecast_speed: np.ndarray
    forecast_level: np.ndarray
    forecast_travel_time_s: np.ndarray
    model: str
    forecast_p10: np.ndarray | None = None  # (G, H) speed interval, when the model has one
    forecast_p90: np.ndarray | None = None
    # (G, H) int8 trend codes and confidence (flowcast.publish.roads.outlook); None: not computed
    forecast_trend: np.ndarray | None = None
    forecast_confidence: np.ndarray | None = None  # int8 label codes, with an interval only
    forecast_confidence_score: np.ndarray | None = None  # 0..1, NaN when unknown


@dataclass
class SpotForecasts:
    """Current and forecast visitors of ``K`` spots for one issue time."""

    spot_ids: np.ndarray
    issued_at_ms: int
    horizons_min: np.ndarray
    capacity_instant: np.ndarray
    visitors: np.ndarray
    arrivals: np.ndarray
    forecast_visitors: np.ndarray
    model: str
    forecast_p10: np.ndarray | None = None  # (K, H) visitors interval, when the model has one
    forecast_p90: np.ndarray | None = None
    day: DayView | None = None  # today's and tomorrow's arrivals against daily capacity


def _num(values: np.ndarray, decimals: int) -> list[Any]:
    """Rounded Python floats (nested lists for 2-D input), NaN as None (JSON null). One
    conversion for the whole array; the NaN pass runs only when there is a NaN."""
    rounded = np.round(np.asarray(values, dtype=np.float64), decimals)
    nan = np.isnan(rounded)
    if not nan.any():
        return rounded.tolist()
    cells = rounded.astype(object)
    cells[nan] = None
    return cells.tolist()


def road_condition_messages(c: RoadConditions) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` per segment: the segment id and its JSON condition message."""
    valid_at = (c.issued_at_ms + c.horizons_min.astype(np.int64) * 60_000).tolist()
    horizons = c.horizons_min.tolist()
    speed, tt = _num(c.speed, 1), _num(c.travel_time_s, 1)
    flow, occ, share = _num(c.flow, 1), _num(c.occupancy, 4), _num(c.imputed_share, 3)
    level = c.level.tolist()
    f_speed = _num(c.forecast_speed, 1)
    f_tt = _num(c.forecast_travel_time_s, 1)
    f_level = c.forecast_level.tolist()
    intervals = c.forecast_p10 is not None and c.forecast_p90 is not None
    if intervals:
        p10, p90 = _num(c.forecast_p10, 1), _num(c.forecast_p90, 1)  # type: ignore[arg-type]
    shape = c.forecast_level.shape
    trend = (trend_names(c.forecast_trend) if c.forecast_trend is not None
             else np.full(shape, None, dtype=object)).tolist()
    if intervals and c.forecast_confidence is not None:
        conf = confidence_names(c.forecast_confidence).tolist()
        score = _num(c.forecast_confidence_score if c.forecast_confidence_score is not None
                     else np.full(shape, np.nan), 2)
    else:
        conf = score = np.full(shape, None, dtype=object).tolist()
    out: list[tuple[bytes, bytes]] = []
    # one comprehension per segment builds each item whole: the hot part of a cycle's JSON
    for g, segment in enumerate(c.segment_ids.tolist()):
        if intervals:
            forecast = [{"horizon_min": h, "valid_at": v, "speed": s, "level": lv,
                         "travel_time_s": t, "speed_p10": lo, "speed_p90": hi, "trend": tr,
                         "confidence": cf, "confidence_score": sc}
                        for h, v, s, lv, t, lo, hi, tr, cf, sc in zip(
                            horizons, valid_at, f_speed[g], f_level[g], f_tt[g], p10[g], p90[g],
                            trend[g], conf[g], score[g], strict=True)]
        else:  # no interval, no confidence: never an invented one
            forecast = [{"horizon_min": h, "valid_at": v, "speed": s, "level": lv,
                         "travel_time_s": t, "trend": tr, "confidence": None,
                         "confidence_score": None}
                        for h, v, s, lv, t, tr in zip(horizons, valid_at, f_speed[g], f_level[g],
                                                      f_tt[g], trend[g], strict=True)]
        message = {"segment": segment, "issued_at": c.issued_at_ms, "model": c.model,
                   "trend": trend[g][0] if trend[g] else None,
                   "now": {"speed": speed[g], "level": level[g], "travel_time_s": tt[g],
                           "flow": flow[g], "occupancy": occ[g], "imputed_share": share[g]},
                   "forecast": forecast}
        out.append((str(segment).encode(), orjson.dumps(message)))
    return out


def spot_forecast_messages(f: SpotForecasts) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` per spot: the spot id and its JSON forecast message."""
    valid_at = (f.issued_at_ms + f.horizons_min.astype(np.int64) * 60_000).tolist()
    horizons = f.horizons_min.tolist()
    capacity = f.capacity_instant.astype(np.float64)
    now_sat = _num(f.visitors / capacity, 3)
    visitors, arrivals = _num(f.visitors, 0), _num(f.arrivals, 0)
    f_vis = _num(f.forecast_visitors, 0)
    f_sat = _num(f.forecast_visitors / capacity[:, None], 3)
    intervals = f.forecast_p10 is not None and f.forecast_p90 is not None
    if intervals:
        p10, p90 = _num(f.forecast_p10, 0), _num(f.forecast_p90, 0)  # type: ignore[arg-type]
    days = _day_blocks(f.day) if f.day is not None else None
    out: list[tuple[bytes, bytes]] = []
    for k, spot in enumerate(f.spot_ids.tolist()):
        forecast = [{"horizon_min": h, "valid_at": v, "visitors": n, "saturation": s}
                    for h, v, n, s in zip(horizons, valid_at, f_vis[k], f_sat[k], strict=True)]
        if intervals:
            for item, lo, hi in zip(forecast, p10[k], p90[k], strict=True):
                item["visitors_p10"], item["visitors_p90"] = lo, hi
        message = {"spot": spot, "issued_at": f.issued_at_ms, "model": f.model,
                   "capacity_instant": float(capacity[k]),
                   "now": {"visitors": visitors[k], "saturation": now_sat[k],
                           "arrivals": arrivals[k]},
                   "forecast": forecast}
        if days is not None:
            message["day"] = days[k]
        out.append((str(spot).encode(), orjson.dumps(message)))
    return out


def _day_blocks(d: DayView) -> list[dict[str, Any]]:
    """The ``day`` block of each spot's message, in spot order."""
    date, tomorrow = d.date.isoformat(), d.tomorrow.isoformat()
    so_far, expected = _num(d.arrivals_so_far, 0), _num(d.expected_arrivals, 0)
    capacity, saturation = _num(d.capacity_daily, 0), _num(d.saturation, 3)
    t_expected, t_saturation = _num(d.tomorrow_expected_arrivals, 0), _num(
        d.tomorrow_saturation, 3)
    return [{"date": date, "arrivals_so_far": so_far[k], "expected_arrivals": expected[k],
             "capacity_daily": capacity[k], "saturation": saturation[k],
             "reference_date": d.reference_date[k],
             "tomorrow": {"date": tomorrow, "expected_arrivals": t_expected[k],
                          "saturation": t_saturation[k],
                          "reference_date": d.tomorrow_reference_date[k]},
             "method": d.method}
            for k in range(len(so_far))]
