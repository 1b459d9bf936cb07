"""Spot-forecast messages of ``flowcast.spot.forecasts`` (DESIGN.md "Wire contracts").

Keyed by spot id::

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

from flowcast.publish.json_numbers import json_numbers
from flowcast.publish.spots.daily_view import DayView


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


def spot_forecast_messages(f: SpotForecasts) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` per spot: the spot id and its JSON forecast message."""
    valid_at = (f.issued_at_ms + f.horizons_min.astype(np.int64) * 60_000).tolist()
    horizons = f.horizons_min.tolist()
    capacity = f.capacity_instant.astype(np.float64)
    now_sat = json_numbers(f.visitors / capacity, 3)
    visitors, arrivals = json_numbers(f.visitors, 0), json_numbers(f.arrivals, 0)
    f_vis = json_numbers(f.forecast_visitors, 0)
    f_sat = json_numbers(f.forecast_visitors / capacity[:, None], 3)
    intervals = f.forecast_p10 is not None and f.forecast_p90 is not None
    if intervals:
        p10 = json_numbers(f.forecast_p10, 0)  # type: ignore[arg-type]
        p90 = json_numbers(f.forecast_p90, 0)  # type: ignore[arg-type]
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
    so_far, expected = json_numbers(d.arrivals_so_far, 0), json_numbers(d.expected_arrivals, 0)
    capacity, saturation = json_numbers(d.capacity_daily, 0), json_numbers(d.saturation, 3)
    t_expected, t_saturation = json_numbers(d.tomorrow_expected_arrivals, 0), json_numbers(
        d.tomorrow_saturation, 3)
    return [{"date": date, "arrivals_so_far": so_far[k], "expected_arrivals": expected[k],
             "capacity_daily": capacity[k], "saturation": saturation[k],
             "reference_date": d.reference_date[k],
             "tomorrow": {"date": tomorrow, "expected_arrivals": t_expected[k],
                          "saturation": t_saturation[k],
                          "reference_date": d.tomorrow_reference_date[k]},
             "method": d.method}
            for k in range(len(so_far))]
