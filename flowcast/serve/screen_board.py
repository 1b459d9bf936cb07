"""The guidance screens' board: each screen's latest route ranking, computed here, where it is
served, from the segment conditions the live view reads, and told about its destination.

The rankings are never written to Kafka: every serving process ranks the screens itself from
the conditions topic (the same conditions give the same ranking), and a sign controller reads
them from the HTTP API or its server-sent events. Not thread-safe: the live view
(:class:`flowcast.serve.view.LiveView`) serialises every call under its lock.

A screen whose destination is a scenic spot carries ``destination_spot``
(:class:`flowcast.serve.destination.Destinations`): whether the spot is full or nearly full
and from when, the notice the sign shows, and where the bureau sends arrivals instead. A
route that reaches a full destination after its limit starts (the ranking's time plus the
route's travel time at the first horizon) gets the advice ``full`` instead of ``take`` or
``alternative``; ``road_advice`` keeps what the roads alone advise. The board re-tells a screen
(:meth:`ScreenBoard.refresh`) when a spot forecast or an alert changes what it says.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from flowcast.city import City
from flowcast.config import Settings
from flowcast.publish.roads.screens import ScreenRanker
from flowcast.serve.alert_book import AlertBook
from flowcast.serve.destination import Destinations
from flowcast.serve.spot_board import SpotBoard

LIMITED = ("take", "alternative")
"""Road advice that a full destination turns into ``full``."""


class ScreenBoard:
    """The latest ranking of every screen of ``city`` with its destination's status.
    ``keep_issues``: how many issue times may wait for their missing segments at once
    (:class:`ScreenRanker`); ``spots`` and ``alerts``: the live view's boards, read for the
    destinations."""

    def __init__(self, city: City, settings: Settings, keep_issues: int, *, spots: SpotBoard,
                 alerts: AlertBook) -> None:
        self.city = city
        self._ranker = ScreenRanker(city, keep_issues=keep_issues, levels=settings.levels)
        self._destinations = Destinations(city, settings.alerts, spots, alerts)
        self._ranked: dict[str, dict[str, Any]] = {}  # by the roads alone
        self._latest: dict[str, dict[str, Any]] = {}  # as served

    def add(self, condition: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Take one segment condition; return the screen messages it completes (now the
        latest of their screens)."""
        out = []
        for ranked in self._ranker.add(condition):
            self._ranked[ranked["screen"]] = ranked
            self._latest[ranked["screen"]] = message = self._tell(ranked)
            out.append(message)
        return out

    def refresh(self) -> list[dict[str, Any]]:
        """Re-tell every ranked screen whose destination is a spot; return the messages that
        changed (after a spot forecast or an alert). A stub is told afresh when read."""
        out = []
        for screen_id, ranked in self._ranked.items():
            if self._destinations.spot_of.get(screen_id) is None:
                continue
            message = self._tell(ranked)
            if message != self._latest[screen_id]:
                self._latest[screen_id] = message
                out.append(message)
        return out

    def all(self) -> list[dict[str, Any]]:
        """Per city screen, in registry order: its latest message, or its stub."""
        return [self._message(s.id) for s in self.city.screens]

    def get(self, screen_id: str) -> dict[str, Any] | None:
        """One screen's latest message or stub; None when the city has no such screen."""
        if screen_id not in self._ranker.screens:
            return None
        return self._message(screen_id)

    def _message(self, screen_id: str) -> dict[str, Any]:
        return self._latest.get(screen_id) or self._tell(self._stub(screen_id))

    def _tell(self, ranked: Mapping[str, Any]) -> dict[str, Any]:
        """``ranked`` with its destination's status and the advice it changes."""
        message = copy.deepcopy(dict(ranked))
        screen = self._ranker.screens[message["screen"]]
        status = self._destinations.status(screen, message["issued_at"])
        message["destination_spot"] = status
        for route in message["routes"]:
            route["road_advice"] = route["advice"]
            if route["advice"] in LIMITED and _arrives_limited(message, route, status):
                route["advice"] = "full"
        return message

    def _stub(self, screen_id: str) -> dict[str, Any]:
        """A screen not ranked yet: its static description, ``issued_at`` None, no ranks."""
        screen = self._ranker.screens[screen_id]
        return {"screen": screen.id, "name": screen.name, "destination": screen.destination,
                "issued_at": None,
                "routes": [{"route": p.id, "name": p.name, "segments": list(p.segments),
                            "rank": None, "now": None, "forecast": [], "advice": None}
                           for p in self._ranker.plans[screen_id]]}

    def __len__(self) -> int:
        """Screens with a ranking."""
        return len(self._latest)


def _arrives_limited(message: Mapping[str, Any], route: Mapping[str, Any],
                     status: Mapping[str, Any] | None) -> bool:
    """Whether a driver taking ``route`` now reaches a full destination after its limit
    starts: the ranking's time plus the route's travel time (first horizon, else now)."""
    if status is None or status["state"] != "full" or status["limit_from"] is None:
        return False
    first = route["forecast"][0]["travel_time_s"] if route["forecast"] else None
    travel = first if first is not None else (route["now"] or {}).get("travel_time_s")
    if message["issued_at"] is None or travel is None:
        return False
    return message["issued_at"] + travel * 1000 >= status["limit_from"]
