"""The demo's terminal report: a listener on the live view that prints every saturation alert
(raised, updated, cancelled) and one status line per spot cycle, and sums up what was published
(:class:`DemoSummary`, written by ``flowcast demo --summary``)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from flowcast.city import City

LEVEL_WORDS = ("smooth", "basically smooth", "light", "moderate", "severe")


@dataclass
class DemoSummary:
    """What a demo run published, as the pages' view saw it."""

    conditions: int = 0
    spot_forecasts: int = 0
    screens: int = 0
    segments: set[str] = field(default_factory=set)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    models: set[str] = field(default_factory=set)
    url: str = ""
    simulated_until: str = ""

    def to_json(self) -> bytes:
        """The summary as JSON (for scripts and tests)."""
        return orjson.dumps({
            "conditions": self.conditions, "spot_forecasts": self.spot_forecasts,
            "screens": self.screens, "segments": len(self.segments),
            "alerts": self.alerts, "models": sorted(self.models), "url": self.url,
            "simulated_until": self.simulated_until}, option=orjson.OPT_INDENT_2)


class TerminalReport:
    """Listens to the view: prints alerts as they come and a status line per spot cycle."""

    def __init__(self, city: City, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.zone = city.zone
        self.spot_names = dict(zip(city.spot_ids.tolist(), city.spot_names.tolist(),
                                   strict=True))
        self.summary = DemoSummary()
        self._levels: dict[str, int] = {}
        self._spots: dict[int, dict[str, dict[str, Any]]] = {}  # issue time -> spot -> message
        self._last_status_issue = 0
        self._lock = threading.Lock()

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        """One new message from the view."""
        with self._lock:
            if kind == "condition":
                self._condition(payload)
            elif kind == "spot":
                self._spot(payload)
            elif kind == "alert":
                self._alert(payload)
            elif kind == "screen":
                self.summary.screens += 1

    def _condition(self, message: dict[str, Any]) -> None:
        self.summary.conditions += 1
        self.summary.segments.add(message["segment"])
        self.summary.models.add(str(message.get("model")))
        level = message.get("now", {}).get("level")
        if isinstance(level, int):
            self._levels[message["segment"]] = level

    def _spot(self, message: dict[str, Any]) -> None:
        """Collect spot forecasts by issue time; print a status line once every spot of an
        issue time is in (partitions are read in any order, so lines never mix times)."""
        self.summary.spot_forecasts += 1
        issued = int(message["issued_at"])
        if issued <= self._last_status_issue:
            return
        batch = self._spots.setdefault(issued, {})
        batch[message["spot"]] = message
        if len(batch) == len(self.spot_names):
            self._last_status_issue = issued
            self.echo(self._status(issued, batch))
            for old in [t for t in self._spots if t <= issued]:
                del self._spots[old]

    def _status(self, issued_ms: int, spots: dict[str, dict[str, Any]]) -> str:
        counts = Counter(self._levels.values())
        roads = ", ".join(f"{counts[i]} {LEVEL_WORDS[i - 1]}" for i in range(1, 6) if counts[i])
        return (f"{self._time(issued_ms)}  roads: {roads or 'no data yet'} | busiest spot: "
                f"{self._busiest(spots)}")

    def _busiest(self, spots: dict[str, dict[str, Any]]) -> str:
        """The spot that is, or will be, the most saturated: now or at its forecast peak,
        whichever is higher; said as an operator reads it ("124% now and falling")."""
        def worst(message: dict[str, Any]) -> float:
            return max(_now_saturation(message), _forecast_peak(message)[0])

        busiest = max(spots.values(), key=worst)
        name = self.spot_names.get(busiest["spot"], busiest["spot"])
        now = _now_saturation(busiest)
        peak, peak_ms = _forecast_peak(busiest)
        if peak_ms is not None and peak > now + 0.005:
            clock = dt.datetime.fromtimestamp(peak_ms / 1000, self.zone).strftime("%H:%M")
            return f"{name} {now:.0%} now, {peak:.0%} expected at {clock}"
        if peak_ms is not None and peak < now - 0.005:
            return f"{name} {now:.0%} now and falling"
        return f"{name} {now:.0%} now"

    def _alert(self, payload: dict[str, Any]) -> None:
        message = payload.get("message", payload)  # the view wraps the CAP message
        info = message.get("info") or {}
        if isinstance(info, list):
            info = info[0] if info else {}
        params = {p.get("valueName"): p.get("value") for p in info.get("parameter", [])}
        spot = params.get("spotId", "?")
        self.summary.alerts.append({"msgType": message.get("msgType"), "spot": spot,
                                    "severity": info.get("severity"),
                                    "identifier": message.get("identifier"),
                                    "sent": message.get("sent")})
        word = {"Alert": "ALERT RAISED", "Update": "ALERT UPDATED",
                "Cancel": "ALERT CANCELLED"}.get(str(message.get("msgType")), "ALERT")
        self.echo(f"{_cap_clock(message.get('sent'))}  *** {word} ({info.get('severity')}) "
                  f"{info.get('headline', spot)}")
        if message.get("msgType") != "Cancel" and info.get("instruction"):
            self.echo(f"               {info['instruction']}")

    def _time(self, ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, self.zone).strftime("%a %d %b %H:%M")


def _now_saturation(message: dict[str, Any]) -> float:
    return float(message.get("now", {}).get("saturation") or 0.0)


def _forecast_peak(message: dict[str, Any]) -> tuple[float, int | None]:
    """The highest forecast saturation and when (epoch ms), or (0, None) without a forecast."""
    points = [(float(f["saturation"]), f.get("valid_at")) for f in message.get("forecast", [])
              if f.get("saturation") is not None]
    if not points:
        return 0.0, None
    peak, at = max(points, key=lambda p: p[0])
    return peak, int(at) if at is not None else None


def _cap_clock(sent: Any) -> str:
    try:
        return dt.datetime.fromisoformat(str(sent)).strftime("%a %d %b %H:%M")
    except ValueError:
        return str(sent)
