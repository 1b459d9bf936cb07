"""Road-condition messages of ``flowcast.road.conditions`` (DESIGN.md "Wire contracts").

Keyed by segment id (fields and rules: ``docs/conditions.md``)::

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

``issued_at`` is the epoch ms end of the closed bucket the message was computed from; together
with the key it identifies the message, so a repeat after a restart is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from flowcast.publish.json_numbers import json_numbers
from flowcast.publish.roads.outlook import confidence_names, trend_names


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


def road_condition_messages(c: RoadConditions) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` per segment: the segment id and its JSON condition message."""
    valid_at = (c.issued_at_ms + c.horizons_min.astype(np.int64) * 60_000).tolist()
    horizons = c.horizons_min.tolist()
    speed, tt = json_numbers(c.speed, 1), json_numbers(c.travel_time_s, 1)
    flow, occ = json_numbers(c.flow, 1), json_numbers(c.occupancy, 4)
    share = json_numbers(c.imputed_share, 3)
    level = c.level.tolist()
    f_speed = json_numbers(c.forecast_speed, 1)
    f_tt = json_numbers(c.forecast_travel_time_s, 1)
    f_level = c.forecast_level.tolist()
    intervals = c.forecast_p10 is not None and c.forecast_p90 is not None
    if intervals:
        p10 = json_numbers(c.forecast_p10, 1)  # type: ignore[arg-type]
        p90 = json_numbers(c.forecast_p90, 1)  # type: ignore[arg-type]
    shape = c.forecast_level.shape
    trend = (trend_names(c.forecast_trend) if c.forecast_trend is not None
             else np.full(shape, None, dtype=object)).tolist()
    if intervals and c.forecast_confidence is not None:
        conf = confidence_names(c.forecast_confidence).tolist()
        score = json_numbers(c.forecast_confidence_score if c.forecast_confidence_score is not None
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
