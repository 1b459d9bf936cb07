"""The guidance screens' board: each screen's latest route ranking, computed here, where it is
served, from the segment conditions the live view reads.

The rankings are never written to Kafka: every serving process ranks the screens itself from
the conditions topic (the same conditions give the same ranking), and a sign controller reads
them from the HTTP API or its server-sent events. Not thread-safe: the live view
(:class:`flowcast.serve.view.LiveView`) serialises every call under its lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowcast.city import City
from flowcast.publish.roads.screens import ScreenRanker


class ScreenBoard:
    """The latest ranking of every screen of ``city``. ``keep_issues``: how many issue times
    may wait for their missing segments at once (:class:`ScreenRanker`)."""

    def __init__(self, city: City, keep_issues: int) -> None:
        self.city = city
        self._ranker = ScreenRanker(city, keep_issues=keep_issues)
        self._latest: dict[str, dict[str, Any]] = {}

    def add(self, condition: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Take one segment condition; return the screen rankings it completes (now the
        latest of their screens)."""
        ranked = self._ranker.add(condition)
        for screen in ranked:
            self._latest[screen["screen"]] = screen
        return ranked

    def all(self) -> list[dict[str, Any]]:
        """Per city screen, in registry order: its latest ranking, or its stub."""
        return [self._latest.get(s.id) or self._stub(s.id) for s in self.city.screens]

    def get(self, screen_id: str) -> dict[str, Any] | None:
        """One screen's latest ranking or stub; None when the city has no such screen."""
        if screen_id not in self._ranker.screens:
            return None
        return self._latest.get(screen_id) or self._stub(screen_id)

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
