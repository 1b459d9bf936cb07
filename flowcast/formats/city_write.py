"""Writing a city file: a :class:`~flowcast.city.City` back to GeoJSON that
:func:`~flowcast.formats.city_read.city_from_geojson` reads to an equal registry."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flowcast.city import ROAD_CLASSES, City


def city_to_geojson(city: City) -> dict[str, Any]:
    """The registry as a GeoJSON FeatureCollection that :func:`city_from_geojson` reads back
    to an equal registry."""
    features: list[dict[str, Any]] = []
    features.extend(_segment_features(city))
    features.extend(_sensor_features(city))
    features.extend(_spot_features(city))
    features.extend(_screen_features(city))
    return {
        "type": "FeatureCollection",
        "flowcast": {"city": city.name, "timezone": city.timezone, "format": 1},
        "features": features,
    }


def _segment_features(city: City) -> Iterable[dict[str, Any]]:
    for g in range(city.n_segments):
        yield {
            "type": "Feature",
            "geometry": {"type": "LineString",
                         "coordinates": [[round(x, 6), round(y, 6)]
                                         for x, y in city.segment_geometry[g]]},
            "properties": {
                "kind": "segment",
                "id": str(city.segment_ids[g]),
                "name": str(city.segment_names[g]),
                "road_class": ROAD_CLASSES[int(city.segment_class[g])],
                "length_m": float(city.segment_length_m[g]),
                "free_flow_kmh": float(city.segment_free_flow_kmh[g]),
                "lanes": int(city.segment_lanes[g]),
                "capacity_vphpl": float(city.segment_capacity_vphpl[g]),
                "region": str(city.regions[city.segment_region[g]]),
                "downstream": [str(city.segment_ids[d]) for d in city.downstream.neighbours(g)],
            },
        }


def _sensor_features(city: City) -> Iterable[dict[str, Any]]:
    for s in range(city.n_sensors):
        lon, lat = city.sensor_lonlat[s]
        yield {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            "properties": {"kind": "sensor", "id": str(city.sensor_ids[s]),
                           "segment": str(city.segment_ids[city.sensor_segment[s]])},
        }


def _hhmm(minutes: int) -> str:
    return f"{int(minutes) // 60:02d}:{int(minutes) % 60:02d}"


def _spot_features(city: City) -> Iterable[dict[str, Any]]:
    for k in range(city.n_spots):
        lon, lat = city.spot_lonlat[k]
        yield {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            "properties": {
                "kind": "spot",
                "id": str(city.spot_ids[k]),
                "name": str(city.spot_names[k]),
                "capacity_instant": float(city.spot_capacity_instant[k]),
                "capacity_daily": float(city.spot_capacity_daily[k]),
                "opens": _hhmm(city.spot_opens_min[k]),
                "closes": _hhmm(city.spot_closes_min[k]),
                "warn": float(city.spot_warn[k]),
                "critical": float(city.spot_critical[k]),
                "region": str(city.regions[city.spot_region[k]]),
            },
        }


def _screen_features(city: City) -> Iterable[dict[str, Any]]:
    for screen in city.screens:
        yield {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(screen.lonlat)},
            "properties": {
                "kind": "screen",
                "id": screen.id,
                "name": screen.name,
                "destination": screen.destination,
                "routes": [{"id": r.id, "name": r.name,
                            "segments": [str(city.segment_ids[s]) for s in r.segments]}
                           for r in screen.routes],
            },
        }


def city_json(city: City) -> str:
    """The registry as the text of a city file (compact GeoJSON), as :func:`save_city` writes
    it; a dataset keeps this text as its ``city.geojson``."""
    return json.dumps(city_to_geojson(city), separators=(",", ":"))


def save_city(city: City, path: str | Path) -> None:
    """Write the registry as GeoJSON (atomically: a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(city_json(city), encoding="utf-8")
    tmp.replace(path)
