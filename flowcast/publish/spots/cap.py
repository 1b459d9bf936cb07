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
``docs/alerts.md`` documents every field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson

EVENT = "Scenic spot saturation"
STATUS = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel")
SCOPES = ("Public", "Restricted", "Private")
CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
              "Transport", "Infra", "CBRNE", "Other")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
LEVEL_NAMES = ("none", "warning", "critical")
"""Alert levels by their integer code: 1 warning (Moderate), 2 critical (Severe)."""

PARAMETER_NAMES = ("spotId", "level", "threshold", "saturationNow", "saturationPeak",
                   "peakTime", "capacity")
"""Parameters every message carries, in this order."""

_FORBIDDEN_IN_IDS = (" ", ",", "<", "&")


def cap_time(ms: int, zone: ZoneInfo) -> str:
    """Epoch milliseconds as a CAP ``dateTime`` in ``zone``: ``2025-10-01T10:00:00+08:00``
    (whole seconds; UTC written ``-00:00``)."""
    text = dt.datetime.fromtimestamp(ms / 1000, tz=zone).isoformat(timespec="seconds")
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def parse_cap_time(text: str) -> int:
    """Epoch milliseconds of a CAP ``dateTime``; raises ``ValueError`` on a time without an
    offset or one that is not ISO 8601."""
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return round(when.timestamp() * 1000)


def reference(sender: str, identifier: str, sent: str) -> str:
    """A CAP reference to an earlier message: ``sender,identifier,sent``."""
    return f"{sender},{identifier},{sent}"


def parse_reference(text: str) -> tuple[str, str, str]:
    """``(sender, identifier, sent)`` of the first reference in a CAP ``references`` field."""
    parts = text.split()[0].split(",") if text.strip() else []
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"reference {text!r} is not 'sender,identifier,sent'")
    return parts[0], parts[1], parts[2]


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


def decode_alert(value: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """A message value (raw JSON or already decoded) as a dict; raises ``ValueError`` when
    it is not a JSON object."""
    message = orjson.loads(value) if isinstance(value, bytes | str) else dict(value)
    if not isinstance(message, dict):
        raise ValueError("an alert message must be a JSON object")
    return message


def message_parameters(message: Mapping[str, Any]) -> dict[str, str]:
    """``info.parameter`` of a decoded message as ``{valueName: value}``."""
    items = message.get("info", {}).get("parameter", [])
    return {str(p.get("valueName")): str(p.get("value")) for p in items if isinstance(p, dict)}


def cap_problems(message: Mapping[str, Any]) -> list[str]:
    """What makes a decoded message not a well-formed saturation alert (empty when it is):
    missing fields, values outside CAP 1.2's enumerations, times without an offset, a bad
    reference, missing parameters."""
    problems = _header_problems(message)
    info = message.get("info")
    if not isinstance(info, Mapping):
        return [*problems, "info is missing"]
    return problems + _info_problems(info)


def _header_problems(message: Mapping[str, Any]) -> list[str]:
    problems = [f"{name} is missing" for name in
                ("identifier", "sender", "sent", "status", "msgType", "scope")
                if not isinstance(message.get(name), str) or not message.get(name)]
    for name in ("identifier", "sender"):
        if any(c in str(message.get(name, "")) for c in _FORBIDDEN_IN_IDS):
            problems.append(f"{name} has a space, comma, '<' or '&'")
    problems += _enum_problems(message, (("status", STATUS), ("msgType", MSG_TYPES),
                                         ("scope", SCOPES)))
    problems += _time_problems(message, ("sent",))
    if message.get("scope") == "Restricted" and not message.get("restriction"):
        problems.append("a Restricted message needs a restriction")
    if message.get("msgType") in ("Update", "Cancel"):
        try:
            parse_reference(str(message.get("references", "")))
        except ValueError as err:
            problems.append(str(err))
    return problems


def _info_problems(info: Mapping[str, Any]) -> list[str]:
    problems = [f"info.{name} is missing" for name in
                ("category", "event", "urgency", "severity", "certainty", "onset", "expires",
                 "headline", "instruction")
                if not isinstance(info.get(name), str) or not info.get(name)]
    problems += _enum_problems(info, (("category", CATEGORIES), ("urgency", URGENCIES),
                                      ("severity", SEVERITIES), ("certainty", CERTAINTIES)))
    problems += _time_problems(info, ("onset", "expires"))
    names = message_parameters({"info": info})
    problems += [f"info.parameter {name} is missing" for name in PARAMETER_NAMES
                 if name not in names]
    if names.get("level") not in LEVEL_NAMES[1:]:
        problems.append(f"info.parameter level {names.get('level')!r} is not warning/critical")
    return problems


def _enum_problems(block: Mapping[str, Any],
                   fields: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
    return [f"{name} {block.get(name)!r} is not one of {', '.join(allowed)}"
            for name, allowed in fields if name in block and block[name] not in allowed]


def _time_problems(block: Mapping[str, Any], names: tuple[str, ...]) -> list[str]:
    problems = []
    for name in names:
        value = block.get(name)
        if not isinstance(value, str):
            continue
        try:
            parse_cap_time(value)
        except ValueError:
            problems.append(f"{name} {value!r} is not an ISO 8601 time with an offset")
    return problems
