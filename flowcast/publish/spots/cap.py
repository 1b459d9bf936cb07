"""The shape of a saturation alert: CAP 1.2 (OASIS Common Alerting Protocol) as JSON.

One message per spot and change, keyed by spot id on ``flowcast.spot.alerts`` (a compacted
topic)::

    {"identifier": "flowcast-wuzhizhou-1759284000000-0", "sender": "flowcast",
     "sent": "2025-10-01T10:00:00+08:00", "status": "Actual", "msgType": "Alert",
     "scope": "Public",
     "info": {"language": "en-US", "category": "Safety", "event": "Scenic spot saturation",
              "urgency": "Expected", "severity": "Moderate", "certainty": "Likely",
              "onset": "2025-10-01T11:48:00+08:00", "expires": "2025-10-01T18:00:00+08:00",
              "headline": "...", "instruction": "...",
              "parameter": [{"valueName": "spotId", "value": "wuzhizhou"}, ...],
              "area": [{"areaDesc": "Wuzhizhou Island", "circle": "18.31,109.76 0"}]}}

Update and Cancel messages carry ``references``: ``"sender,identifier,sent"`` of the first
Alert of the episode. Times are ISO 8601 with the city's UTC offset and no fractions (CAP's
``dateTime``; UTC is written ``-00:00`` as CAP asks). Parameter values are strings, as in CAP.
``docs/alerts.md`` documents every field. This module builds messages;
:mod:`flowcast.publish.spots.cap_read` parses and checks received ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson

EVENT = "Scenic spot saturation"
LEVEL_NAMES = ("none", "warning", "critical")
"""Alert levels by their integer code: 1 warning (Moderate), 2 critical (Severe)."""

PARAMETER_NAMES = ("spotId", "level", "threshold", "saturationNow", "saturationPeak",
                   "peakTime", "capacity")
"""Parameters every message carries, in this order."""


def cap_time(ms: int, zone: ZoneInfo) -> str:
    """Epoch milliseconds as a CAP ``dateTime`` in ``zone``: ``2025-10-01T10:00:00+08:00``
    (whole seconds; UTC written ``-00:00``)."""
    text = dt.datetime.fromtimestamp(ms / 1000, tz=zone).isoformat(timespec="seconds")
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def reference(sender: str, identifier: str, sent: str) -> str:
    """A CAP reference to an earlier message: ``sender,identifier,sent``."""
    return f"{sender},{identifier},{sent}"


@dataclass(frozen=True)
class CapInfo:
    """The ``info`` block of a saturation alert."""

    category: str
    urgency: str
    severity: str
    certainty: str
    onset: str
    expires: str
    headline: str
    instruction: str
    parameters: tuple[tuple[str, str], ...]
    area_desc: str
    circle: str | None = None
    language: str = "en-US"
    event: str = EVENT

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the block."""
        area: dict[str, Any] = {"areaDesc": self.area_desc}
        if self.circle is not None:
            area["circle"] = self.circle
        return {"language": self.language, "category": self.category, "event": self.event,
                "urgency": self.urgency, "severity": self.severity,
                "certainty": self.certainty, "onset": self.onset, "expires": self.expires,
                "headline": self.headline, "instruction": self.instruction,
                "parameter": [{"valueName": n, "value": v} for n, v in self.parameters],
                "area": [area]}


@dataclass(frozen=True)
class CapAlert:
    """One saturation alert message for ``spot``; ``value()`` is its CAP-shaped JSON."""

    spot: str
    identifier: str
    sender: str
    sent: str
    msg_type: str
    scope: str
    info: CapInfo
    references: str | None = None
    restriction: str | None = None
    status: str = "Actual"

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON object, fields in CAP's order."""
        out: dict[str, Any] = {"identifier": self.identifier, "sender": self.sender,
                               "sent": self.sent, "status": self.status,
                               "msgType": self.msg_type, "scope": self.scope}
        if self.restriction:
            out["restriction"] = self.restriction
        if self.references is not None:
            out["references"] = self.references
        out["info"] = self.info.to_dict()
        return out

    def key(self) -> bytes:
        """The Kafka key: the spot id."""
        return self.spot.encode()

    def value(self) -> bytes:
        """The Kafka value: the message as JSON."""
        return orjson.dumps(self.to_dict())

    @property
    def parameters(self) -> dict[str, str]:
        """The info parameters by name."""
        return dict(self.info.parameters)


def alert_messages(alerts: Iterable[CapAlert]) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` per alert, for the alerts topic."""
    return [(alert.key(), alert.value()) for alert in alerts]
