"""Reading a saturation alert received from the alerts topic: parse and check its CAP 1.2 shape.

:func:`decode_alert` turns a message value into a dict, :func:`message_parameters` reads its
``info.parameter`` list, :func:`parse_cap_time` and :func:`parse_reference` read its times and
``references``, and :func:`cap_problems` lists what makes it not a well-formed saturation alert
against CAP 1.2's enumerations (kept here). The message itself is built in
:mod:`flowcast.publish.spots.cap`; ``docs/alerts.md`` documents every field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson

from flowcast.publish.spots.cap import LEVEL_NAMES, PARAMETER_NAMES

STATUS = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel")
SCOPES = ("Public", "Restricted", "Private")
CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
              "Transport", "Infra", "CBRNE", "Other")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
_FORBIDDEN_IN_IDS = (" ", ",", "<", "&")


def parse_cap_time(text: str) -> int:
    """Epoch milliseconds of a CAP ``dateTime``; raises ``ValueError`` on a time without an
    offset or one that is not ISO 8601."""
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return round(when.timestamp() * 1000)


def parse_reference(text: str) -> tuple[str, str, str]:
    """``(sender, identifier, sent)`` of the first reference in a CAP ``references`` field."""
    parts = text.split()[0].split(",") if text.strip() else []
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"reference {text!r} is not 'sender,identifier,sent'")
    return parts[0], parts[1], parts[2]


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
