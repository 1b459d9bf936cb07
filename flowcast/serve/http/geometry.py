"""The city's drawable geometry for the pages: ``GET /api/city/geometry``."""

from __future__ import annotations

from typing import Any

from flowcast.city import ROAD_CLASSES, City
from flowcast.publish.roads.levels import LEVEL_NAMES
from flowcast.publish.roads.screens import route_plans


def city_geometry(city: City) -> dict[str, Any]:
    """Segments as lon/lat polylines with their class, region and length (metres), spots and
    screens as points, each screen's routes as segment ids, the bounding box
    ``[min lon, min lat, max lon, max lat]`` and the level names (index 0 is level 1)."""
    segments = []
    lons: list[float] = []
    lats: list[float] = []
    for g, sid in enumerate(city.segment_ids.tolist()):
        coords = [[round(lon, 6), round(lat, 6)] for lon, lat in city.segment_geometry[g]]
        lons += [c[0] for c in coords]
        lats += [c[1] for c in coords]
        segments.append({
            "id": sid, "name": str(city.segment_names[g]),
            "class": ROAD_CLASSES[int(city.segment_class[g])],
            "region": str(city.regions[int(city.segment_region[g])]),
            "length_m": float(city.segment_length_m[g]), "coords": coords})
    spots = [{"id": str(city.spot_ids[k]), "name": str(city.spot_names[k]),
              "lonlat": [float(v) for v in city.spot_lonlat[k]]} for k in range(city.n_spots)]
    screens = [{"id": s.id, "name": s.name, "destination": s.destination,
                "lonlat": [float(v) for v in s.lonlat],
                "routes": [{"id": p.id, "name": p.name, "segments": list(p.segments)}
                           for p in route_plans(city, s)]} for s in city.screens]
    for item in (*spots, *screens):
        lons.append(item["lonlat"][0])
        lats.append(item["lonlat"][1])
    bbox = [min(lons), min(lats), max(lons), max(lats)] if lons else [0.0, 0.0, 0.0, 0.0]
    return {"city": city.name, "timezone": city.timezone, "bbox": bbox,
            "regions": [str(r) for r in city.regions], "level_names": list(LEVEL_NAMES),
            "segments": segments, "spots": spots, "screens": screens}
