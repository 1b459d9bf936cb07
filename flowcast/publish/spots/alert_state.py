"""What the alert tracker remembers per spot: the active alert (an episode) and its streaks.

An :class:`Episode` is a spot's active alert from its first Alert on: the identifiers its
Updates and Cancel reference, and what the last message said (level, onset, peak). A
:class:`Streak` counts consecutive cycles (and minutes of issue time) for which a condition has
held; :class:`SpotAlertState` holds one episode and the four streaks the lifecycle in
:mod:`flowcast.publish.spots.alerts` needs. Everything here is plain data that exports to JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from flowcast.publish.spots.cap import LEVEL_NAMES
from flowcast.publish.spots.cap_read import message_parameters, parse_cap_time, parse_reference
from flowcast.publish.spots.saturation import SpotView

_MINUTE_MS = 60_000


@dataclass
class Streak:
    """Consecutive cycles in which a condition held, since ``since_ms`` (issue time)."""

    cycles: int = 0
    since_ms: int = -1

    def extend(self, issued_ms: int) -> None:
        """Count one more cycle in which the condition held."""
        if self.cycles == 0:
            self.since_ms = issued_ms
        self.cycles += 1

    def reset(self) -> None:
        """The condition did not hold: start over."""
        self.cycles, self.since_ms = 0, -1

    def follow(self, holds: bool, issued_ms: int) -> None:
        """Extend when ``holds``, else reset."""
        if holds:
            self.extend(issued_ms)
        else:
            self.reset()

    def reached(self, cycles: int, minutes: float, issued_ms: int) -> bool:
        """Whether the condition has held for ``cycles`` cycles and ``minutes`` minutes."""
        return self.cycles >= cycles and issued_ms - self.since_ms >= minutes * _MINUTE_MS


@dataclass
class Episode:
    """The active alert of a spot: its first Alert, and what the last message said."""

    level: int
    first_issued_ms: int
    first_identifier: str
    first_sender: str
    first_sent: str
    seq: int
    onset_ms: int
    peak: float
    peak_at_ms: int


@dataclass
class SpotAlertState:
    """Everything the tracker remembers about one spot: the active alert, and the streaks
    of cycles towards raising (``up``), an Update (``change``), leaving critical
    (``below_critical``: under critical minus hysteresis) and cancelling (``below_warning``)."""

    episode: Episode | None = None
    up: Streak = field(default_factory=Streak)
    change: Streak = field(default_factory=Streak)
    below_critical: Streak = field(default_factory=Streak)
    below_warning: Streak = field(default_factory=Streak)

    @property
    def idle(self) -> bool:
        """No active alert and nothing pending."""
        return self.episode is None and self.up.cycles == 0

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> SpotAlertState:
        """Inverse of ``dataclasses.asdict``."""
        episode = data.get("episode")
        streaks = {name: Streak(**data[name])
                   for name in ("up", "change", "below_critical", "below_warning")}
        return SpotAlertState(episode=Episode(**episode) if episode else None, **streaks)


def alert_identifier(spot: str, first_issued_ms: int, seq: int) -> str:
    """``flowcast-<spot>-<issue ms of the first Alert>-<message number in the episode>``."""
    return f"flowcast-{spot}-{first_issued_ms}-{seq}"


def crossing_ms(view: SpotView, level: int) -> int:
    """When the forecast crosses the threshold of ``level``, or (held there by hysteresis)
    the threshold minus the hysteresis; the issue time when it does neither."""
    for at in (view.onset_ms[level - 1], view.onset_low_ms[level - 1]):
        if at >= 0:
            return at
    return view.issued_ms


def next_message(episode: Episode) -> Episode:
    """The episode as its next message (a Cancel) names it."""
    return Episode(**{**asdict(episode), "seq": episode.seq + 1})


def episode_from_message(message: Mapping[str, Any]) -> Episode:
    """The active alert a message (Alert or Update) describes."""
    params = message_parameters(message)
    if message["msgType"] == "Alert":
        sender, first_id, first_sent = message["sender"], message["identifier"], message["sent"]
    else:
        sender, first_id, first_sent = parse_reference(message["references"])
    seq = str(message["identifier"]).rsplit("-", 1)[-1]
    first_ms = first_id.rsplit("-", 2)[-2] if first_id.count("-") >= 2 else ""
    return Episode(
        level=LEVEL_NAMES.index(params["level"]),
        first_issued_ms=int(first_ms) if first_ms.isdigit() else parse_cap_time(first_sent),
        first_identifier=first_id, first_sender=sender, first_sent=first_sent,
        seq=int(seq) if seq.isdigit() else 0,
        onset_ms=parse_cap_time(message["info"]["onset"]),
        peak=float(params["saturationPeak"]), peak_at_ms=parse_cap_time(params["peakTime"]))
