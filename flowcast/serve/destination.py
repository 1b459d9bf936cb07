"""A guidance screen's destination spot: how full it is, from when entry is limited, and where
the bureau sends arrivals instead.

A screen's ``destination`` that names a scenic spot of the city (its name or id, case and
spacing ignored) ties the screen to that spot. From the spot board's latest forecast and the
alert book's active alert, the destination is:

- ``full`` from the earliest of: now, when saturation now is at or over the spot's
  ``critical`` threshold (its capacity); the first forecast at or over it; the onset of an
  active ``critical`` alert (the bureau closes the entrances then);
- else ``busy`` from the same with the ``warn`` threshold and a ``warning`` alert (the bureau
  stops ticket sales then);
- else ``ok`` (``unknown`` with neither a forecast nor an alert).

The **alternatives** are the spots the active alert's instruction names (in its order), kept
while their forecast peak stays below their own warning threshold minus the alerts'
hysteresis; when none is left (or there is no alert), the spots the alert writer would name
now (:meth:`flowcast.publish.spots.alert_text.AlertWriter.spare`, least full first), at most
``alerts.max_alternatives``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from flowcast.city import City, Screen
from flowcast.config import AlertSettings
from flowcast.publish.spots.alert_text import AlertWriter
from flowcast.serve.alert_book import AlertBook
from flowcast.serve.spot_board import SpotBoard

NOTICES = {("full", True): "{spot} full, expect entry limits",
           ("full", False): "{spot} full from {time}, expect entry limits",
           ("busy", True): "{spot} nearly full, ticket sales may stop",
           ("busy", False): "{spot} nearly full from {time}, ticket sales may stop"}
"""What a screen says about its destination, by state and whether the limit is already on."""
INSTEAD = "Try {names} instead"
NOWHERE = "No other spot has space"
_LEVELS = {"full": ("critical", "critical"), "busy": ("warn", "warning")}


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text).strip().casefold()


def spots_named(text: str, names: Mapping[str, str]) -> list[str]:
    """Ids of the spots (``{id: name}``) whose names appear in ``text``, in order of
    appearance, each once. Longer names are matched first, so ``Yalong Bay 2`` is not also
    read as ``Yalong Bay``."""
    found: list[tuple[int, str]] = []
    taken = [False] * len(text)
    for spot, name in sorted(names.items(), key=lambda item: -len(item[1])):
        if not name:
            continue
        for match in re.finditer(re.escape(name), text):
            span = range(match.start(), match.end())
            if any(taken[i] for i in span):
                continue
            for i in span:
                taken[i] = True
            found.append((match.start(), spot))
            break
    return [spot for _, spot in sorted(found)]


def local_time(ms: int, reference_ms: int, zone: dt.tzinfo) -> str:
    """``HH:MM`` in ``zone`` when ``ms`` falls on the local day of ``reference_ms``, else
    ``Fri 2 Oct HH:MM``."""
    when = dt.datetime.fromtimestamp(ms / 1000, tz=zone)
    if when.date() == dt.datetime.fromtimestamp(reference_ms / 1000, tz=zone).date():
        return when.strftime("%H:%M")
    return f"{when.strftime('%a')} {when.day} {when.strftime('%b %H:%M')}"


def limit_from(figures: Mapping[str, Any], forecast: Mapping[str, Any] | None,
               threshold: float, alert_onset: int | None) -> int | None:
    """Epoch ms from which a spot is at or over ``threshold``: its issue time when the
    saturation now is, else the first forecast time that is, or an alert's onset when that is
    earlier; None when neither says so."""
    times: list[int] = []
    now = figures.get("saturation_now")
    if now is not None and now >= threshold and figures.get("issued_at") is not None:
        times.append(int(figures["issued_at"]))
    for item in (forecast or {}).get("forecast", []):
        sat = item.get("saturation")
        if isinstance(sat, int | float) and sat >= threshold and \
                isinstance(item.get("valid_at"), int):
            times.append(int(item["valid_at"]))
            break
    if alert_onset is not None:
        times.append(alert_onset)
    return min(times, default=None)


class Destinations:
    """The destination status of every screen of ``city`` whose destination is a spot, from
    the live view's spot board and alert book (read under the view's lock)."""

    def __init__(self, city: City, alerts: AlertSettings, spots: SpotBoard,
                 book: AlertBook) -> None:
        self.city = city
        self.settings = alerts
        self._spots = spots
        self._book = book
        self._writer = AlertWriter(city, alerts)
        self._names = dict(zip(city.spot_ids.tolist(), city.spot_names.tolist(), strict=True))
        keys = {_key(v): k for k, v in enumerate(city.spot_names.tolist())}
        keys.update({_key(v): k for k, v in enumerate(city.spot_ids.tolist())})
        self.spot_of = {s.id: keys.get(_key(s.destination)) for s in city.screens}

    def status(self, screen: Screen, issued_at: int | None) -> dict[str, Any] | None:
        """``screen``'s destination spot now (None when its destination is no spot):
        ``{"spot", "name", "state", "limit_from", "saturation_now", "saturation_peak",
        "peak_at", "alert": {"identifier", "level", "onset_at"} | None, "notice",
        "alternatives": [{"spot", "name", "saturation", "suggested_by"}], "instead"}``.
        Whether the limit is already on ("full" now) or comes later ("full from 12:15") is
        judged at the later of ``issued_at`` (the ranking's time) and the forecast's."""
        k = self.spot_of.get(screen.id)
        if k is None:
            return None
        spot = str(self.city.spot_ids[k])
        entry = self._spots.entry(k)
        alert = self._book.active(spot)
        state, start = self._state(k, entry, alert)
        reference = max((t for t in (issued_at, entry["issued_at"]) if t is not None),
                        default=None)
        notice = instead = None
        alternatives: list[dict[str, Any]] = []
        if state in _LEVELS and start is not None:
            now = reference is None or start <= reference
            time = "" if now else local_time(start, reference, self.city.zone)
            notice = NOTICES[state, now].format(spot=entry["name"], time=time)
            alternatives = self.alternatives(k, alert)
            names = " or ".join(a["name"] for a in alternatives)
            instead = INSTEAD.format(names=names) if names else NOWHERE
        return {"spot": spot, "name": entry["name"], "state": state, "limit_from": start,
                "saturation_now": entry["saturation_now"],
                "saturation_peak": entry["saturation_peak"], "peak_at": entry["peak_at"],
                "alert": None if alert is None else {
                    "identifier": alert["identifier"], "level": alert["level"],
                    "onset_at": alert["onset_at"]},
                "notice": notice, "alternatives": alternatives, "instead": instead}

    def _state(self, k: int, entry: Mapping[str, Any],
               alert: Mapping[str, Any] | None) -> tuple[str, int | None]:
        """The destination's state and the time its limit starts."""
        for state in ("full", "busy"):
            field, level = _LEVELS[state]
            onset = None
            if alert is not None and alert["level"] == level:
                onset = alert["onset_at"] if alert["onset_at"] is not None else alert["sent_at"]
            start = limit_from(entry, entry["forecast"], entry[field], onset)
            if start is not None:
                return state, start
        known = entry["forecast"] is not None or alert is not None
        return ("ok" if known else "unknown"), None

    def alternatives(self, k: int, alert: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """Where to go instead of spot ``k``: the spots the alert names that still have room,
        else the ones with the most room now (see the module docstring)."""
        limit = self.settings.max_alternatives
        peaks = {j: self._spots.entry(j)["saturation_peak"] for j in range(self.city.n_spots)}
        spare = {j for j, sat in peaks.items()
                 if sat is None or sat < self.city.spot_warn[j] - self.settings.hysteresis}
        named = spots_named(str((alert or {}).get("instruction") or ""), self._names)
        index = [int(j) for j in self.city.spot_index(named).tolist()]
        chosen = [(j, "alert") for j in index if j != k and j in spare][:limit]
        if not chosen:
            known = [j for j, sat in peaks.items() if sat is not None and j != k]
            ranked = self._writer.spare(np.array(known, dtype=np.int64),
                                        np.array([peaks[j] for j in known], dtype=np.float64))
            chosen = [(j, "forecast") for j, _ in ranked[:limit]]
        return [{"spot": str(self.city.spot_ids[j]), "name": str(self.city.spot_names[j]),
                 "saturation": peaks[j], "suggested_by": source} for j, source in chosen]
