"""The bureau's spot board: the latest forecast of every scenic spot and today's curve.

Today's curve of a spot is one point per issue time of the local day of its latest forecast:
visitors and saturation then, and what the first horizon forecast (bounded to one day of spot
buckets). Not thread-safe: the live view (:class:`flowcast.serve.view.LiveView`) serialises
every call under its lock.

The peak a spot's entry shows is never below its saturation now: ``saturation_peak`` is the
highest of now and the forecast (as the alerts' ``saturationPeak``), ``peak_at`` its time
(the issue time when it is now). When nothing ahead reaches what was already seen today,
``peak_passed`` is true and ``day_high``/``day_high_at`` say what the peak was and when.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

from flowcast.city import City


class SpotBoard:
    """Latest forecast and today's curve per spot of ``city``; ``spot_bucket_s``: seconds per
    spot bucket (sizes the curve)."""

    def __init__(self, city: City, spot_bucket_s: int) -> None:
        self.city = city
        self._latest: dict[str, dict[str, Any]] = {}
        self._curve_len = math.ceil(86_400 / spot_bucket_s) + 8
        self._curves: dict[str, deque[dict[str, Any]]] = {}
        self._curve_day: dict[str, dt.date] = {}

    def add(self, message: dict[str, Any]) -> bool:
        """Take one spot forecast already checked for shape; False (nothing changed) when the
        spot has a newer one."""
        spot, issued_at = message["spot"], message["issued_at"]
        old = self._latest.get(spot)
        if old is not None and old["issued_at"] > issued_at:
            return False
        self._latest[spot] = message
        self._add_to_curve(spot, issued_at, message["now"], message.get("forecast") or [])
        return True

    def _add_to_curve(self, spot: str, issued_at: int, now: Mapping[str, Any],
                      forecast: list[dict[str, Any]]) -> None:
        """A new local day starts a new curve; a repeat of an issue time replaces its point."""
        day = dt.datetime.fromtimestamp(issued_at / 1000, tz=self.city.zone).date()
        if self._curve_day.get(spot) != day:
            self._curves[spot] = deque(maxlen=self._curve_len)
            self._curve_day[spot] = day
        curve = self._curves[spot]
        first = forecast[0] if forecast else {}
        point = {"issued_at": issued_at, "visitors": now.get("visitors"),
                 "saturation": now.get("saturation"),
                 "forecast_valid_at": first.get("valid_at"),
                 "forecast_visitors": first.get("visitors")}
        if curve and curve[-1]["issued_at"] == issued_at:
            curve[-1] = point
        elif not curve or curve[-1]["issued_at"] < issued_at:
            curve.append(point)

    def curve(self, spot: str) -> list[dict[str, Any]]:
        """Today's curve of ``spot``, oldest point first (empty before any forecast)."""
        return list(self._curves.get(spot, ()))

    def entry(self, k: int) -> dict[str, Any]:
        """Spot ``k`` of the city (registry index): id, name, capacities, thresholds, lon/lat,
        the latest forecast message (None before any) and its figures (:meth:`figures`). The
        caller adds ``alert_level``."""
        c = self.city
        spot = str(c.spot_ids[k])
        return {"spot": spot, "name": str(c.spot_names[k]),
                "capacity_instant": float(c.spot_capacity_instant[k]),
                "capacity_daily": float(c.spot_capacity_daily[k]),
                "warn": float(c.spot_warn[k]), "critical": float(c.spot_critical[k]),
                "lonlat": [float(v) for v in c.spot_lonlat[k]],
                **self.figures(spot), "alert_level": None, "forecast": self._latest.get(spot)}

    def figures(self, spot: str) -> dict[str, Any]:
        """The latest figures of ``spot`` (fractions of capacity, epoch ms): ``issued_at``,
        ``saturation_now``; ``saturation_peak`` and ``peak_at``, the highest of now and the
        forecast; ``forecast_peak`` and ``forecast_peak_at``, the forecast's alone;
        ``day_high`` and ``day_high_at``, the highest seen today; ``peak_passed``, true when
        the forecast stays below what was already seen today. Unknown values are None."""
        latest = self._latest.get(spot) or {}
        issued_at = latest.get("issued_at")
        now = _number(latest.get("now", {}).get("saturation"))
        ahead = [(s, f.get("valid_at")) for f in latest.get("forecast", [])
                 if (s := _number(f.get("saturation"))) is not None]
        forecast_peak, forecast_at = max(ahead, key=lambda p: p[0], default=(None, None))
        peak, peak_at = max([p for p in [(now, issued_at), (forecast_peak, forecast_at)]
                             if p[0] is not None], key=lambda p: p[0], default=(None, None))
        seen = [(s, p["issued_at"]) for p in self._curves.get(spot, ())
                if (s := _number(p["saturation"])) is not None]
        high, high_at = max(seen, key=lambda p: p[0], default=(None, None))
        passed = forecast_peak is not None and high is not None and forecast_peak < high
        return {"issued_at": issued_at, "saturation_now": now, "saturation_peak": peak,
                "peak_at": peak_at, "forecast_peak": forecast_peak,
                "forecast_peak_at": forecast_at, "day_high": high, "day_high_at": high_at,
                "peak_passed": passed}

    def __len__(self) -> int:
        """Spots with a forecast."""
        return len(self._latest)


def _number(value: Any) -> float | None:
    """A finite number as float; None for anything else (null, NaN, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
