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
        busiest = max(spots.values(), key=_peak_saturation)
        name = self.spot_names.get(busiest["spot"], busiest["spot"])
        now = busiest.get("now", {}).get("saturation") or 0.0
        return (f"{self._time(issued_ms)}  roads: {roads or 'no data yet'} | busiest spot: "
                f"{name} {now:.0%} now, peak {_peak_saturation(busiest):.0%} forecast")

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


def _peak_saturation(message: dict[str, Any]) -> float:
    values = [f.get("saturation") for f in message.get("forecast", [])]
    return max([v for v in values if v is not None] or [0.0])


def _cap_clock(sent: Any) -> str:
    try:
        return dt.datetime.fromisoformat(str(sent)).strftime("%a %d %b %H:%M")
    except ValueError:
        return str(sent)
