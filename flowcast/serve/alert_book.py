"""The bureau's alert book: saturation-alert episodes per spot, with their acknowledgements.

An **episode** is every CAP message of one spot from its Alert on (Alert -> Update -> Cancel).
:class:`AlertBook` keeps the active episode of each spot, the recently closed ones (cancelled,
or replaced by a new Alert whose predecessor's Cancel was lost) for ``cancelled_keep_s``
seconds, and finds an episode by any of its messages' identifiers. Not thread-safe: the live
view (:class:`flowcast.serve.view.LiveView`) serialises every call under its lock.

Besides the CAP fields, an episode as the API shows it carries its times as epoch ms
(``sent_at``, ``onset_at``, ``expires_at``; ``sent_at`` on each history line), ``figures``:
the saturation its latest message was sent with (``saturation_now``, ``saturation_peak``,
``peak_at``, ``threshold``), and ``current``: the spot's figures now, from the spot board,
so a reader sees both the figures an alert was sent with and today's.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowcast.publish.spots.cap_read import message_parameters, parse_cap_time, parse_reference


@dataclass
class AlertEpisode:
    """One alert episode of a spot: every message from its Alert on, and its acknowledgements."""

    spot: str
    root: str  # identifier of the episode's first Alert
    messages: list[dict[str, Any]] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    status: str = "active"  # active | cancelled | replaced
    closed_mono: float | None = None  # monotonic time it stopped being active

    @property
    def latest(self) -> dict[str, Any]:
        """The episode's newest message (by sent time)."""
        return self.messages[-1]

    def identifiers(self) -> set[str]:
        """Every identifier the episode answers to: its root and each message's."""
        return {self.root} | {str(m["identifier"]) for m in self.messages}

    def to_dict(self, spot_name: str, current: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
        """The episode as the API shows it: a summary of the latest message with its times in
        epoch ms and the ``figures`` it was sent with, the spot's ``current`` figures (as
        given), every message, and the acknowledgements (``acknowledged``: the latest message
        was acknowledged)."""
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
            "sent_at": _epoch_ms(latest.get("sent")), "onset_at": _epoch_ms(info.get("onset")),
            "expires_at": _epoch_ms(info.get("expires")),
            "figures": sent_figures(params),
            "current": dict(current) if current is not None else None,
            "acknowledged": latest["identifier"] in acked,
            "acks": list(self.acks),
            "history": [{"identifier": m["identifier"], "msgType": m["msgType"],
                         "sent": m.get("sent"), "sent_at": _epoch_ms(m.get("sent")),
                         "level": message_parameters(m).get("level"),
                         "headline": m.get("info", {}).get("headline"),
                         "saturationPeak": message_parameters(m).get("saturationPeak")}
                        for m in self.messages],
            "messages": list(self.messages),
        }


def sent_figures(params: Mapping[str, str]) -> dict[str, Any]:
    """The saturation figures a message was sent with, from its CAP parameters, as numbers:
    ``saturation_now``, ``saturation_peak``, ``threshold`` (fractions of capacity) and
    ``peak_at`` (epoch ms); None where a parameter is missing or not a number."""
    return {"saturation_now": _ratio(params.get("saturationNow")),
            "saturation_peak": _ratio(params.get("saturationPeak")),
            "peak_at": _epoch_ms(params.get("peakTime")),
            "threshold": _ratio(params.get("threshold"))}


def _ratio(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _epoch_ms(text: Any) -> int | None:
    """Epoch ms of a CAP time; None when missing or malformed."""
    if not isinstance(text, str):
        return None
    try:
        return parse_cap_time(text)
    except ValueError:
        return None


class AlertBook:
    """Alert episodes by spot and by identifier; see the module docstring.

    ``spot_names``: spot id -> display name; ``cancelled_keep_s``: how long a closed episode
    stays listed; ``max_cancelled``: at most this many closed episodes are kept; ``current``:
    a spot id -> its figures now (shown as each episode's ``current``; None: not shown).
    """

    def __init__(self, spot_names: Mapping[str, str], *, cancelled_keep_s: float,
                 max_cancelled: int,
                 current: Callable[[str], Mapping[str, Any]] | None = None) -> None:
        self.spot_names = dict(spot_names)
        self.current = current
        self.cancelled_keep_s = cancelled_keep_s
        self._active: dict[str, AlertEpisode] = {}
        self._closed: deque[AlertEpisode] = deque(maxlen=max_cancelled)
        self._by_id: dict[str, AlertEpisode] = {}

    def add(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Take one CAP message already checked by ``cap_problems``. Returns the listeners'
        payload ``{"spot", "message", "alert": <episode as the API shows it>}``, or None for a
        message the book already holds (at-least-once delivery repeats)."""
        spot = message_parameters(message)["spotId"]
        identifier = str(message["identifier"])
        root = (identifier if message["msgType"] == "Alert"
                else parse_reference(message["references"])[1])
        self.expire()
        episode = self._by_id.get(root)
        if episode is not None and identifier in {x["identifier"] for x in episode.messages}:
            return None
        if episode is None:
            episode = AlertEpisode(spot, root)
            current = self._active.get(spot)
            if current is not None:  # a new episode while one is open: its Cancel was lost
                self._close(current, "replaced")
            self._active[spot] = episode
        episode.messages.append(message)
        episode.messages.sort(key=_sent_order)
        for ident in episode.identifiers():
            self._by_id[ident] = episode
        if message["msgType"] == "Cancel" and episode.status == "active":
            self._close(episode, "cancelled")
        return {"spot": spot, "message": message, "alert": self._show(episode)}

    def acknowledge(self, identifier: str, by: str,
                    note: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        """Record that ``by`` acknowledged the message ``identifier`` (any message of an
        episode, or its root). Returns the acknowledgement ``{"identifier", "alert",
        "message", "spot", "by", "note", "at"}`` (``at`` epoch ms) and the episode after it,
        as the API shows it. Raises ``KeyError`` for an unknown identifier."""
        self.expire()
        episode = self._by_id.get(identifier)
        if episode is None:
            raise KeyError(identifier)
        ack = {"identifier": identifier, "alert": episode.root,
               "message": episode.latest["identifier"], "spot": episode.spot, "by": by,
               "note": note, "at": time.time_ns() // 1_000_000}
        episode.acks.append(ack)
        return ack, self._show(episode)

    def active(self, spot: str) -> dict[str, Any] | None:
        """The active episode of ``spot`` as the API shows it, or None."""
        episode = self._active.get(spot)
        return self._show(episode) if episode is not None else None

    def active_level(self, spot: str) -> Any:
        """The ``level`` parameter of the active episode's latest message (None: no alert)."""
        episode = self._active.get(spot)
        return message_parameters(episode.latest).get("level") if episode else None

    def listed(self, include_cancelled: bool = False) -> list[dict[str, Any]]:
        """Active episodes by spot id (and, with ``include_cancelled``, the recently closed
        ones, newest first after every active one)."""
        self.expire()
        episodes = sorted(self._active.values(), key=lambda e: e.spot)
        if include_cancelled:
            episodes += reversed(self._closed)
        return [self._show(e) for e in episodes]

    def find(self, identifier: str) -> dict[str, Any] | None:
        """The episode holding the message ``identifier``, or None."""
        episode = self._by_id.get(identifier)
        return self._show(episode) if episode is not None else None

    def counts(self) -> tuple[int, int]:
        """Episodes active now, and closed ones still kept."""
        return len(self._active), len(self._closed)

    def expire(self) -> None:
        """Forget closed episodes older than ``cancelled_keep_s``."""
        horizon = time.monotonic() - self.cancelled_keep_s
        while self._closed and (self._closed[0].closed_mono or 0.0) < horizon:
            self._forget(self._closed.popleft())

    def _show(self, episode: AlertEpisode) -> dict[str, Any]:
        current = self.current(episode.spot) if self.current is not None else None
        return episode.to_dict(self.spot_names.get(episode.spot, episode.spot), current)

    def _close(self, episode: AlertEpisode, status: str) -> None:
        if self._active.get(episode.spot) is episode:
            del self._active[episode.spot]
        episode.status, episode.closed_mono = status, time.monotonic()
        if len(self._closed) == self._closed.maxlen:
            self._forget(self._closed[0])
        self._closed.append(episode)

    def _forget(self, episode: AlertEpisode) -> None:
        for ident in episode.identifiers():
            if self._by_id.get(ident) is episode:
                del self._by_id[ident]


def _sent_order(message: Mapping[str, Any]) -> tuple[int, int]:
    """Order of an episode's messages: sent time, then the message number that ends the
    identifier (``flowcast-<spot>-<ms>-<n>``)."""
    try:
        sent = parse_cap_time(str(message.get("sent")))
    except ValueError:
        sent = 0
    tail = str(message.get("identifier")).rsplit("-", 1)[-1]
    return sent, int(tail) if tail.isdigit() else 0
