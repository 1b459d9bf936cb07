"""Field access for reading a city file, with errors that name the feature and the field.

:class:`FeatureFields` reads and checks one property of a GeoJSON feature (text, id, number,
clock time...) and :func:`feature_coordinates` its geometry; a bad value raises one
:class:`~flowcast.errors.CityFileError` naming the file, the feature (by id, or by position when
it has none) and the field. The per-kind parsers are in :mod:`flowcast.formats.city_read`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from flowcast.errors import CityFileError

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_GEOMETRY_TYPES: dict[str, tuple[str, ...]] = {
    "line": ("LineString",),
    "point": ("Point",),
    "area": ("Point", "Polygon"),
}


class FeatureFields:
    """Feature access with error messages that name the feature and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> CityFileError:
        """The error to raise for ``where`` (a feature) in this file."""
        return CityFileError(f"{self.source}: {where}: {message}")

    @staticmethod
    def where(kind: str, position: int, props: Mapping[str, Any]) -> str:
        """How messages name a feature: ``kind 'id'``, or ``feature #n (kind)`` without an id."""
        ident = props.get("id")
        if isinstance(ident, str) and ident:
            return f"{kind} '{ident}'"
        return f"feature #{position} ({kind})"

    def text(
        self, props: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        """Field ``key`` as a non-empty string (``default`` when absent)."""
        value = props.get(key, default)
        if value is None:
            raise self.fail(where, f"field '{key}' is missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"field '{key}' must be a non-empty string, got {value!r}")
        return value

    def ident(self, props: Mapping[str, Any], key: str, where: str) -> str:
        """Field ``key`` as an id: 1-64 letters, digits, ``_ . : -``."""
        value = self.text(props, key, where)
        if not _ID_PATTERN.match(value):
            raise self.fail(
                where, f"field '{key}' = {value!r} is not a valid id (letters, digits, _ . : -)"
            )
        return value

    def number(
        self,
        props: Mapping[str, Any],
        key: str,
        where: str,
        *,
        default: float | None = None,
        positive: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """Field ``key`` as a finite number (``default`` when absent), optionally positive or
        within ``[minimum, maximum]``."""
        value = props.get(key, default)
        if value is None:
            raise self.fail(where, f"field '{key}' is missing")
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise self.fail(where, f"field '{key}' must be a number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(where, f"field '{key}' must be positive, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"field '{key}' must be at least {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.fail(where, f"field '{key}' must be at most {maximum}, got {value!r}")
        return float(value)

    def id_list(self, props: Mapping[str, Any], key: str, where: str) -> list[str]:
        """Field ``key`` as a list of ids (empty when absent)."""
        value = props.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"field '{key}' must be a list of ids, got {value!r}")
        return value

    def hhmm(self, props: Mapping[str, Any], key: str, where: str, default: str) -> int:
        """Field ``key`` as a local clock time ``HH:MM``, in minutes after midnight."""
        value = props.get(key, default)
        match = _HHMM.match(value) if isinstance(value, str) else None
        if match is None:
            raise self.fail(where, f"field '{key}' must be a time 'HH:MM', got {value!r}")
        return int(match.group(1)) * 60 + int(match.group(2))


def feature_coordinates(
    fx: FeatureFields, geometry: Any, where: str, expected: str
) -> list[tuple[float, float]]:
    """The ``(lon, lat)`` points of a feature's geometry; ``expected`` is ``"line"``
    (LineString), ``"point"`` (Point) or ``"area"`` (Point or Polygon: its outer ring)."""
    if not isinstance(geometry, Mapping) or geometry.get("type") not in _GEOMETRY_TYPES[expected]:
        kinds = " or ".join(_GEOMETRY_TYPES[expected])
        raise fx.fail(where, f"field 'geometry' must be a GeoJSON {kinds}")
    coords = geometry.get("coordinates")
    if geometry["type"] == "Polygon":
        coords = coords[0] if isinstance(coords, list) and coords else None
    elif geometry["type"] == "Point":
        coords = [coords]
    try:
        points = [(float(p[0]), float(p[1])) for p in coords]
    except (TypeError, ValueError, IndexError):
        raise fx.fail(where, "field 'geometry.coordinates' must hold [lon, lat] pairs") from None
    if not points or not all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in points):
        raise fx.fail(where, "field 'geometry.coordinates' must be lon/lat in degrees (WGS84)")
    if expected == "line" and len(points) < 2:
        raise fx.fail(where, "field 'geometry' LineString needs at least two points")
    return points
