"""Fixtures shared by the engine's state tests."""

from __future__ import annotations

from typing import Any

import pytest

from flowcast.city import City
from flowcast.formats.city_read import city_from_geojson


def _feature(kind: str, fid: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, "id": fid,
                                                                   **props}}


@pytest.fixture
def tiny_city() -> City:
    """Three segments (A -> B, B -> C) with one sensor each, and two spots opening at 09:00 and
    07:30 in Asia/Shanghai."""
    line = {"type": "LineString", "coordinates": [[110.30, 20.00], [110.31, 20.01]]}
    point = {"type": "Point", "coordinates": [110.305, 20.005]}
    seg = {"road_class": "arterial", "length_m": 800.0, "free_flow_kmh": 60.0}
    return city_from_geojson({
        "type": "FeatureCollection",
        "flowcast": {"city": "tiny", "timezone": "Asia/Shanghai"},
        "features": [
            _feature("segment", "A", line, region="R1", lanes=2, downstream=["B"], **seg),
            _feature("segment", "B", line, region="R1", lanes=3, **seg),
            _feature("segment", "C", line, region="R2", lanes=4, upstream=["B"], **seg),
            _feature("sensor", "S1", point, segment="A"),
            _feature("sensor", "S2", point, segment="B"),
            _feature("sensor", "S3", point, segment="C"),
            _feature("spot", "P1", point, capacity_instant=100, capacity_daily=500,
                     opens="09:00"),
            _feature("spot", "P2", point, capacity_instant=100, capacity_daily=500,
                     opens="07:30"),
        ],
    })
