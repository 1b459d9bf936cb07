"""The live view: the latest of every output topic, in memory, for the HTTP API and the pages.

:class:`LiveView` ingests output records one at a time (:meth:`LiveView.apply`, fed by
:class:`flowcast.serve.output_reader.OutputReader`) and keeps:

- the latest road condition per segment (an older issue time never replaces a newer one);
- the latest spot forecast per spot, plus today's curve (visitors per issue time and what the
  first horizon forecast, for the local day of the latest message; bounded);
- saturation alerts by spot: the active episode with its full message history
  (Alert -> Update -> Cancel), recently cancelled episodes for ``cancelled_keep_s`` seconds,
  and acknowledgements (who, when, which message);
- guidance-screen rankings (:mod:`flowcast.publish.roads.screens`).

Listeners (``add_listener(fn)``) are called as ``fn(kind, payload)`` after each change, with kind
``condition``, ``spot``, ``alert``, ``screen`` or ``ack``; a failing listener is logged and never
stops the view. Thread-safe: one reader thread applies, HTTP threads read and acknowledge.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from flowcast.city import City
from flowcast.config import Settings
from flowcast.publish.roads.screens import ScreenRanker
from flowcast.publish.spots.cap import (
    cap_problems,
    message_parameters,
    parse_cap_time,
    parse_reference,
)

log = logging.getLogger("flowcast.serve.view")

Listener = Callable[[str, dict[str, Any]], None]
KINDS = ("condition", "spot", "alert", "screen", "ack")


@dataclass
class _Episode:
    """One alert episode of a spot: every message from its Alert on, and its acknowledgements."""

    spot: str
    root: str  # identifier of the episode's first Alert
    messages: list[dict[str, Any]] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    status: str = "active"  # active | cancelled | replaced
    closed_mono: float | None = None  # monotonic time it stopped being active

    @property
    def latest(self) -> dict[str, Any]:
        return self.messages[-1]

    def identifiers(self) -> set[str]:
        return {self.root} | {str(m["identifier"]) for m in self.messages}

    def to_dict(self, spot_name: str) -> dict[str, Any]:
        """The episode as the API shows it: a summary of the latest message, every message,
        and the acknowledgements (``acknowledged``: the latest message was acknowledged)."""
        latest = self.latest
        info = latest.get("info", {})
        params = message_parameters(latest)
        acked = {a["message"] for a in self.acks}
        return {
            "spot": self.spot, "spot_name": spot_name, "identifier": self.root,
            "latest": latest["identifier"], "msgType": latest["msgType"], "status": self.status,
            "sent": latest.get("sent"), "level": params.get("level"),
            "severity": info.get("severity"), "urgency": info.get("urgency"),
            "certainty": info.get("certainty"), "onset": info.get("onset"),
            "expires": info.get("expires"), "headline": info.get("headline"),
            "instruction": info.get("instruction"), "parameters": params,
            "acknowledged": latest["identifier"] in acked,
            "acks": list(self.acks),
            "history": [{"identifier": m["identifier"], "msgType": m["msgType"],
                         "sent": m.get("sent"), "level": message_parameters(m).get("level"),
                         "headline": m.get("info", {}).get("headline"),
                         "saturationPeak": message_parameters(m).get("saturationPeak")}
                        for m in self.messages],
            "messages": list(self.messages),
        }


class LiveView:
    """Thread-safe in-memory store of the latest outputs; see the module docstring.

    ``cancelled_keep_s``: how long a cancelled alert stays listed (``?include=cancelled``);
    ``max_cancelled``: at most this many are kept.
    """

    def __init__(self, city: City, settings: Settings, *, cancelled_keep_s: float = 6 * 3600,
                 max_cancelled: int = 200) -> None:
        self.city = city
        self.settings = settings
        self.cancelled_keep_s = cancelled_keep_s
        self.ready = threading.Event()  # set once the first road condition arrived
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._segments = set(city.segment_ids.tolist())
        self._spot_names = dict(zip(city.spot_ids.tolist(), city.spot_names.tolist(),
                                    strict=True))
        self._conditions: dict[str, dict[str, Any]] = {}
        self._spots: dict[str, dict[str, Any]] = {}
        curve_len = math.ceil(86_400 / settings.time.spot_bucket_s) + 8
        self._curve_len = curve_len
        self._curves: dict[str, deque[dict[str, Any]]] = {}
        self._curve_day: dict[str, dt.date] = {}
        self._active: dict[str, _Episode] = {}
        self._closed: deque[_Episode] = deque(maxlen=max_cancelled)
        self._by_id: dict[str, _Episode] = {}
        # issue times a screen may wait for: the recent window read on start, per partition
        keep = math.ceil(settings.http.recent_minutes * 60 / settings.time.road_bucket_s) + 4
        self._ranker = ScreenRanker(city, keep_issues=keep)
        self._screens: dict[str, dict[str, Any]] = {}
        self.applied: Counter[str] = Counter()  # messages taken, by kind
        self.rejected: Counter[str] = Counter()  # records refused, by reason

    # ----- listeners ---------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(kind, payload)`` for every new message (kinds: :data:`KINDS`)."""
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling ``fn`` (no error when it was not added)."""
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _emit(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for kind, payload in events:
            for fn in listeners:
                try:
                    fn(kind, payload)
                except Exception:
                    log.exception("live-view listener %r failed on a %s message", fn, kind)

    # ----- ingest ------------------------------------------------------------------------
    def apply(self, topic: str, key: bytes | str | None, value: bytes | str | None) -> bool:
        """Ingest one output record; True when it changed the view. Records of an unknown
        topic, undecodable or malformed ones are counted in :attr:`rejected` and logged,
        never raised."""
        topics = self.settings.topics
        try:
            message = orjson.loads(value) if value is not None else None
        except orjson.JSONDecodeError:
            return self._reject("undecodable", topic, key)
        if not isinstance(message, dict):
            return self._reject("not_an_object", topic, key)
        try:
            if topic == topics.road_conditions:
                if "screen" in message:  # our own screen messages, read back
                    self.applied["screen_echo"] += 1
                    return False
                events = self._condition(message)
            elif topic == topics.spot_forecasts:
                events = self._spot(message)
            elif topic == topics.spot_alerts:
                events = self._alert(message)
            else:
                return self._reject("unknown_topic", topic, key)
        except _Refused as err:
            return self._reject(str(err), topic, key)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            return self._reject(f"malformed ({type(err).__name__})", topic, key)
        self._emit(events)
        return bool(events)

    def _reject(self, reason: str, topic: str, key: bytes | str | None) -> bool:
        with self._lock:
            self.rejected[reason] += 1
            count = self.rejected[reason]
        if count <= 10 or count % 1000 == 0:  # log the first few, then every thousandth
            log.warning("output record skipped (%s, seen %d times): topic %s key %r", reason,
                        count, topic, key)
        return False

    def _condition(self, m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        segment, issued_at = m["segment"], m["issued_at"]
        if not isinstance(issued_at, int) or not isinstance(m["now"], dict):
            raise _Refused("malformed condition")
        if segment not in self._segments:
            raise _Refused("unknown_segment")
        with self._lock:
            old = self._conditions.get(segment)
            if old is not None and old["issued_at"] > issued_at:
                self.applied["stale"] += 1
                return []
            self._conditions[segment] = m
            self.applied["condition"] += 1
            events: list[tuple[str, dict[str, Any]]] = [("condition", m)]
            for screen in self._ranker.add(m):
                self._screens[screen["screen"]] = screen
                self.applied["screen"] += 1
                events.append(("screen", screen))
        self.ready.set()
        return events

    def _spot(self, m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        spot, issued_at, now = m["spot"], m["issued_at"], m["now"]
        if not isinstance(spot, str) or not isinstance(issued_at, int) or \
                not isinstance(now, dict):
            raise _Refused("malformed spot forecast")
        forecast = m.get("forecast") or []
        with self._lock:
            old = self._spots.get(spot)
            if old is not None and old["issued_at"] > issued_at:
                self.applied["stale"] += 1
                return []
            self._spots[spot] = m
            self._add_to_curve(spot, issued_at, now, forecast)
            self.applied["spot"] += 1
        return [("spot", m)]

    def _add_to_curve(self, spot: str, issued_at: int, now: Mapping[str, Any],
                      forecast: list[dict[str, Any]]) -> None:
        """Today's curve of ``spot`` (caller holds the lock): a new local day starts a new one;
        a repeat of an issue time replaces its point."""
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

    def _alert(self, m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        problems = cap_problems(m)
        if problems:
            raise _Refused(f"bad alert: {problems[0]}")
        spot = message_parameters(m)["spotId"]
        identifier = str(m["identifier"])
        root = identifier if m["msgType"] == "Alert" else parse_reference(m["references"])[1]
        with self._lock:
            self._expire_closed()
            episode = self._by_id.get(root)
            if episode is not None and identifier in {x["identifier"] for x in
                                                      episode.messages}:
                self.applied["duplicate"] += 1
                return []
            if episode is None:
                episode = _Episode(spot, root)
                current = self._active.get(spot)
                if current is not None:  # a new episode while one is open: its Cancel was lost
                    self._close(current, "replaced")
                self._active[spot] = episode
            episode.messages.append(m)
            episode.messages.sort(key=_sent_ms)
            for ident in episode.identifiers():
                self._by_id[ident] = episode
            if m["msgType"] == "Cancel" and episode.status == "active":
                self._close(episode, "cancelled")
            self.applied["alert"] += 1
            payload = {"spot": spot, "message": m,
                       "alert": episode.to_dict(self._spot_names.get(spot, spot))}
        return [("alert", payload)]

    def _close(self, episode: _Episode, status: str) -> None:
        """Move an episode out of the active ones (caller holds the lock)."""
        if self._active.get(episode.spot) is episode:
            del self._active[episode.spot]
        episode.status, episode.closed_mono = status, time.monotonic()
        if len(self._closed) == self._closed.maxlen:
            self._forget(self._closed[0])
        self._closed.append(episode)

    def _expire_closed(self) -> None:
        """Forget cancelled episodes older than ``cancelled_keep_s`` (caller holds the lock)."""
        horizon = time.monotonic() - self.cancelled_keep_s
        while self._closed and (self._closed[0].closed_mono or 0.0) < horizon:
            self._forget(self._closed.popleft())

    def _forget(self, episode: _Episode) -> None:
        for ident in episode.identifiers():
            if self._by_id.get(ident) is episode:
                del self._by_id[ident]

    # ----- acknowledgements --------------------------------------------------------------
    def acknowledge(self, identifier: str, by: str, note: str = "") -> dict[str, Any]:
        """Record that ``by`` acknowledged the alert message ``identifier`` (any message of
        an episode, or its first Alert's identifier). Returns the acknowledgement
        ``{"identifier", "alert", "message", "spot", "by", "note", "at"}``: ``alert`` is the
        episode's first identifier, ``message`` the episode's latest message at that moment
        (an alert counts as acknowledged while its latest message is; an Update after the
        acknowledgement needs a new one), ``at`` epoch ms. Tells the listeners (kind ``ack``).
        Raises ``KeyError`` for an unknown identifier."""
        with self._lock:
            self._expire_closed()
            episode = self._by_id.get(identifier)
            if episode is None:
                raise KeyError(identifier)
            ack = {"identifier": identifier, "alert": episode.root,
                   "message": episode.latest["identifier"], "spot": episode.spot, "by": by,
                   "note": note, "at": time.time_ns() // 1_000_000}
            episode.acks.append(ack)
            self.applied["ack"] += 1
            payload = {**ack, "state": episode.to_dict(self._spot_names.get(episode.spot,
                                                                              episode.spot))}
        self._emit([("ack", payload)])
        return ack

    # ----- reading -----------------------------------------------------------------------
    def conditions(self) -> list[dict[str, Any]]:
        """The latest condition of every segment that has one, in registry order."""
        with self._lock:
            return [self._conditions[s] for s in self.city.segment_ids.tolist()
                    if s in self._conditions]

    def condition(self, segment: str) -> dict[str, Any] | None:
        """The latest condition of ``segment`` (None when none arrived yet)."""
        with self._lock:
            return self._conditions.get(segment)

    def has_segment(self, segment: str) -> bool:
        """Whether ``segment`` is in the city."""
        return segment in self._segments

    def has_spot(self, spot: str) -> bool:
        """Whether ``spot`` is in the city."""
        return spot in self._spot_names

    def spots(self) -> list[dict[str, Any]]:
        """Per city spot: id, name, capacities, thresholds and its latest forecast (or None)."""
        with self._lock:
            return [self._spot_entry(k) for k in range(self.city.n_spots)]

    def spot(self, spot: str) -> dict[str, Any] | None:
        """One spot's entry (see :meth:`spots`) plus today's ``curve``; None if unknown."""
        k = int(self.city.spot_index([spot])[0])
        if k < 0:
            return None
        with self._lock:
            entry = self._spot_entry(k)
            entry["curve"] = list(self._curves.get(spot, ()))
            active = self._active.get(spot)
            entry["alert"] = active.to_dict(entry["name"]) if active else None
            return entry

    def _spot_entry(self, k: int) -> dict[str, Any]:
        c = self.city
        spot = str(c.spot_ids[k])
        latest = self._spots.get(spot)
        sats = [f.get("saturation") for f in (latest or {}).get("forecast", [])]
        known = [s for s in sats if isinstance(s, int | float)]
        active = self._active.get(spot)
        return {"spot": spot, "name": str(c.spot_names[k]),
                "capacity_instant": float(c.spot_capacity_instant[k]),
                "capacity_daily": float(c.spot_capacity_daily[k]),
                "warn": float(c.spot_warn[k]), "critical": float(c.spot_critical[k]),
                "lonlat": [float(v) for v in c.spot_lonlat[k]],
                "saturation_now": (latest or {}).get("now", {}).get("saturation"),
                "saturation_peak": max(known) if known else None,
                "alert_level": message_parameters(active.latest).get("level") if active else None,
                "forecast": latest}

    def alerts(self, include_cancelled: bool = False) -> list[dict[str, Any]]:
        """Active alert episodes (and, with ``include_cancelled``, recently closed ones, newest
        first after the active ones)."""
        with self._lock:
            self._expire_closed()
            episodes = sorted(self._active.values(), key=lambda e: e.spot)
            if include_cancelled:
                episodes += reversed(self._closed)
            return [e.to_dict(self._spot_names.get(e.spot, e.spot)) for e in episodes]

    def alert(self, identifier: str) -> dict[str, Any] | None:
        """The episode holding the message ``identifier``, or None."""
        with self._lock:
            episode = self._by_id.get(identifier)
            return episode.to_dict(self._spot_names.get(episode.spot, episode.spot)) \
                if episode else None

    def screens(self) -> list[dict[str, Any]]:
        """Per city screen: its latest ranking message, or its static description with
        ``issued_at`` None and no ranks when no ranking was computed yet."""
        with self._lock:
            return [self._screens.get(s.id) or self._screen_stub(s.id) for s in self.city.screens]

    def screen(self, screen_id: str) -> dict[str, Any] | None:
        """One screen (see :meth:`screens`); None when the city has no such screen."""
        if screen_id not in self._ranker.screens:
            return None
        with self._lock:
            return self._screens.get(screen_id) or self._screen_stub(screen_id)

    def _screen_stub(self, screen_id: str) -> dict[str, Any]:
        screen = self._ranker.screens[screen_id]
        return {"screen": screen.id, "name": screen.name, "destination": screen.destination,
                "issued_at": None,
                "routes": [{"route": p.id, "name": p.name, "segments": list(p.segments),
                            "rank": None, "now": None, "forecast": [], "advice": None}
                           for p in self._ranker.plans[screen_id]]}

    def stats(self) -> dict[str, Any]:
        """Counts for /metrics: messages applied by kind, records rejected by reason, active
        alerts, segments with a condition, screens ranked."""
        with self._lock:
            return {"applied": dict(self.applied), "rejected": dict(self.rejected),
                    "alerts_active": len(self._active), "alerts_closed": len(self._closed),
                    "segments": len(self._conditions), "spots": len(self._spots),
                    "screens": len(self._screens)}


class _Refused(ValueError):
    """A record the view does not take; the message is the reason counted."""


def _sent_ms(message: Mapping[str, Any]) -> tuple[int, int]:
    """Order of an episode's messages: sent time, then the message number that ends the
    identifier (``flowcast-<spot>-<ms>-<n>``)."""
    try:
        sent = parse_cap_time(str(message.get("sent")))
    except ValueError:
        sent = 0
    tail = str(message.get("identifier")).rsplit("-", 1)[-1]
    return sent, int(tail) if tail.isdigit() else 0
