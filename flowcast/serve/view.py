"""The live view: the latest of every output topic, in memory, for the HTTP API and the pages.

:class:`LiveView` ingests output records one at a time (:meth:`LiveView.apply`, fed by
:class:`flowcast.serve.output_reader.OutputReader`), checks them, and keeps:

- the latest road condition per segment (an older issue time never replaces a newer one);
- the latest spot forecast per spot and today's curve (:mod:`flowcast.serve.spot_board`);
- saturation-alert episodes with their acknowledgements and their spot's figures now
  (:mod:`flowcast.serve.alert_book`);
- guidance-screen rankings, computed here from the conditions and told about their
  destination spot (:mod:`flowcast.serve.screen_board`; never written back to Kafka): a spot
  forecast or an alert that changes what a screen says sends the screen again.

Listeners (``add_listener(fn)``) are called as ``fn(kind, payload)`` after each change, with kind
``condition``, ``spot``, ``alert``, ``screen`` or ``ack``; a failing listener is logged and never
stops the view. Thread-safe: one reader thread applies, HTTP threads read and acknowledge.

>>> import orjson
>>> from flowcast.config import Settings
>>> from flowcast.ingest.simulator import generate_city
>>> city = generate_city(20, 1, seed=1)
>>> settings = Settings()
>>> view = LiveView(city, settings)
>>> condition = {"segment": "G0003", "issued_at": 1_790_900_100_000,
...              "now": {"speed": 52.5, "level": 1, "travel_time_s": 40.0}, "forecast": []}
>>> view.apply(settings.topics.road_conditions, b"G0003", orjson.dumps(condition))
True
>>> view.condition("G0003")["now"]["speed"], view.ready.is_set()
(52.5, True)
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from flowcast.city import City
from flowcast.config import Settings
from flowcast.publish.spots.cap_read import cap_problems
from flowcast.serve.alert_book import AlertBook
from flowcast.serve.screen_board import ScreenBoard
from flowcast.serve.spot_board import SpotBoard

log = logging.getLogger("flowcast.serve.view")

Listener = Callable[[str, dict[str, Any]], None]
KINDS = ("condition", "spot", "alert", "screen", "ack")
Events = list[tuple[str, dict[str, Any]]]


class LiveView:
    """Thread-safe in-memory store of the latest outputs; see the module docstring.

    ``cancelled_keep_s``: how long a cancelled alert stays listed (``?include=cancelled``);
    ``max_cancelled``: at most this many are kept.
    """

    def __init__(self, city: City, settings: Settings, *, cancelled_keep_s: float = 6 * 3600,
                 max_cancelled: int = 200) -> None:
        self.city = city
        self.settings = settings
        self.ready = threading.Event()  # set once the first road condition arrived
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._segments = set(city.segment_ids.tolist())
        self._spot_names = dict(zip(city.spot_ids.tolist(), city.spot_names.tolist(),
                                    strict=True))
        self._conditions: dict[str, dict[str, Any]] = {}
        self._spots = SpotBoard(city, settings.time.spot_bucket_s)
        self._alerts = AlertBook(self._spot_names, cancelled_keep_s=cancelled_keep_s,
                                 max_cancelled=max_cancelled, current=self._spots.figures)
        # issue times a screen may wait for: the recent window read on start, per partition
        keep = math.ceil(settings.http.recent_minutes * 60 / settings.time.road_bucket_s) + 4
        self._screens = ScreenBoard(city, settings, keep, spots=self._spots,
                                    alerts=self._alerts)
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

    def _emit(self, events: Events) -> None:
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

    def _condition(self, m: dict[str, Any]) -> Events:
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
            events: Events = [("condition", m)]
            for screen in self._screens.add(m):
                self.applied["screen"] += 1
                events.append(("screen", screen))
        self.ready.set()
        return events

    def _spot(self, m: dict[str, Any]) -> Events:
        if not isinstance(m["spot"], str) or not isinstance(m["issued_at"], int) or \
                not isinstance(m["now"], dict):
            raise _Refused("malformed spot forecast")
        with self._lock:
            if not self._spots.add(m):
                self.applied["stale"] += 1
                return []
            self.applied["spot"] += 1
            return [("spot", m), *self._screens_retold()]

    def _alert(self, m: dict[str, Any]) -> Events:
        problems = cap_problems(m)
        if problems:
            raise _Refused(f"bad alert: {problems[0]}")
        with self._lock:
            payload = self._alerts.add(m)
            if payload is None:
                self.applied["duplicate"] += 1
                return []
            self.applied["alert"] += 1
            return [("alert", payload), *self._screens_retold()]

    def _screens_retold(self) -> Events:
        """Screens whose destination's status changed (called under the lock)."""
        screens = self._screens.refresh()
        if screens:
            self.applied["screen"] += len(screens)
        return [("screen", screen) for screen in screens]

    def acknowledge(self, identifier: str, by: str, note: str = "") -> dict[str, Any]:
        """Record that ``by`` acknowledged the alert message ``identifier`` (any message of
        an episode, or its first Alert's identifier). Returns the acknowledgement
        ``{"identifier", "alert", "message", "spot", "by", "note", "at"}``: ``alert`` is the
        episode's first identifier, ``message`` the episode's latest message at that moment
        (an alert counts as acknowledged while its latest message is; an Update after the
        acknowledgement needs a new one), ``at`` epoch ms. Tells the listeners (kind ``ack``,
        payload: the acknowledgement plus ``state``, the alert after it). Raises ``KeyError``
        for an unknown identifier."""
        with self._lock:
            ack, state = self._alerts.acknowledge(identifier, by, note)
            self.applied["ack"] += 1
        self._emit([("ack", {**ack, "state": state})])
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
        """Per city spot: id, name, capacities, thresholds, its latest forecast (or None) and
        the level of its active alert (or None)."""
        with self._lock:
            return [self._spot_entry(k) for k in range(self.city.n_spots)]

    def spot(self, spot: str) -> dict[str, Any] | None:
        """One spot's entry (see :meth:`spots`) plus today's ``curve`` and its active
        ``alert`` (or None); None if the spot is unknown."""
        k = int(self.city.spot_index([spot])[0])
        if k < 0:
            return None
        with self._lock:
            entry = self._spot_entry(k)
            entry["curve"] = self._spots.curve(spot)
            entry["alert"] = self._alerts.active(spot)
            return entry

    def _spot_entry(self, k: int) -> dict[str, Any]:
        entry = self._spots.entry(k)
        entry["alert_level"] = self._alerts.active_level(entry["spot"])
        return entry

    def alerts(self, include_cancelled: bool = False) -> list[dict[str, Any]]:
        """Active alert episodes (and, with ``include_cancelled``, recently closed ones, newest
        first after the active ones)."""
        with self._lock:
            return self._alerts.listed(include_cancelled)

    def alert(self, identifier: str) -> dict[str, Any] | None:
        """The episode holding the message ``identifier``, or None."""
        with self._lock:
            return self._alerts.find(identifier)

    def screens(self) -> list[dict[str, Any]]:
        """Per city screen: its latest ranking message, or its static description with
        ``issued_at`` None and no ranks when no ranking was computed yet."""
        with self._lock:
            return self._screens.all()

    def screen(self, screen_id: str) -> dict[str, Any] | None:
        """One screen (see :meth:`screens`); None when the city has no such screen."""
        with self._lock:
            return self._screens.get(screen_id)

    def stats(self) -> dict[str, Any]:
        """Counts for /metrics: messages applied by kind, records rejected by reason, active
        alerts, segments with a condition, screens ranked."""
        with self._lock:
            active, closed = self._alerts.counts()
            return {"applied": dict(self.applied), "rejected": dict(self.rejected),
                    "alerts_active": active, "alerts_closed": closed,
                    "segments": len(self._conditions), "spots": len(self._spots),
                    "screens": len(self._screens)}


class _Refused(ValueError):
    """A record the view does not take; the message is the reason counted."""
