"""Generate a synthetic city registry around Haikou: roads, sensors, scenic spots, screens.

The city is assembled as a GeoJSON FeatureCollection and read back through
:func:`flowcast.formats.city_read.city_from_geojson`, so a generated city is exactly as valid as a
file.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from flowcast.city import ROAD_CLASSES, City
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_read import city_from_geojson
from flowcast.ingest.simulator.network import Network, build_network, to_lonlat
from flowcast.ingest.simulator.noise import CITY, rng_for
from flowcast.ingest.simulator.places import Spots, make_screens, make_spots

SENSORS_PER_SEGMENT = 1.12
"""Mean sensors per segment: most segments carry one detector, long ones sometimes two."""
MAX_SENSORS = 2_000_000
MAX_SPOTS = 1_000


def generate_city(n_sensors: int, n_spots: int, seed: int = 0,
                  name: str = "haikou-synthetic") -> City:
    """A synthetic city with exactly ``n_sensors`` road sensors and ``n_spots`` scenic spots.

    A jittered grid road network around Haikou (lon ~110.1-110.55 E, lat ~19.9-20.15 N) with
    arterial/secondary/branch roads and expressway corridors, regions of ~50-500 sensors,
    spots with capacities and opening hours, and one or two guidance screens with alternative
    routes. Deterministic in ``seed``. Raises :class:`FlowcastUserError` on bad counts.
    """
    if not 1 <= n_sensors <= MAX_SENSORS:
        raise FlowcastUserError(f"the number of sensors must be 1..{MAX_SENSORS}, got {n_sensors}")
    if not 0 <= n_spots <= MAX_SPOTS:
        raise FlowcastUserError(f"the number of spots must be 0..{MAX_SPOTS}, got {n_spots}")
    if seed < 0:
        raise FlowcastUserError(f"the seed must be a non-negative integer, got {seed}")
    rng = rng_for(seed, CITY)
    net = build_network(round(n_sensors / SENSORS_PER_SEGMENT), n_sensors, rng)
    seg_ids = _ids("G", net.n_segments)
    sensor_seg, sensor_frac = _place_sensors(net, n_sensors, rng)
    node_region = _node_regions(net)
    spots = make_spots(net, n_spots, node_region, rng)
    region_ids = _ids("R", max(net.n_regions, 1))
    document = {
        "type": "FeatureCollection",
        "flowcast": {"city": name, "timezone": "Asia/Shanghai", "format": 1},
        "features": [
            *_segment_features(net, seg_ids, region_ids),
            *_sensor_features(net, sensor_seg, sensor_frac, seg_ids),
            *_spot_features(spots, region_ids),
            *make_screens(net, spots, seg_ids),
        ],
    }
    return city_from_geojson(document, source=f"<generated city {name}>")


def _ids(prefix: str, n: int) -> list[str]:
    width = max(4, len(str(max(n - 1, 0))))
    return [f"{prefix}{i:0{width}d}" for i in range(n)]


def _place_sensors(net: Network, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Segment of each sensor and its position along the segment (0..1). Every segment gets
    one sensor (major roads first when sensors are scarce); the rest go, as second detectors,
    to long segments."""
    g = net.n_segments
    if n <= g:
        # scarce: monitor expressways and arterials first, the rest at random
        priority = net.seg_class.astype(np.float64) + rng.random(g)
        segs = np.sort(np.argsort(priority, kind="stable")[:n])
    else:
        weight = net.seg_length / net.seg_length.sum()
        extra = rng.choice(g, size=n - g, replace=n - g > g, p=weight)
        segs = np.sort(np.concatenate([np.arange(g), extra]))
    first = np.r_[True, segs[1:] != segs[:-1]]
    frac = np.where(first, rng.uniform(0.35, 0.65, n), rng.uniform(0.7, 0.9, n))
    return segs.astype(np.int64), frac


def _node_regions(net: Network) -> np.ndarray:
    """Region of each node: the region of a segment leaving it (0 if none)."""
    region = np.zeros(net.rows * net.cols, np.int32)
    region[net.seg_from] = net.seg_region
    return region


def _right_offset(a: np.ndarray, b: np.ndarray, metres: float) -> np.ndarray:
    """Offset to the right of travel, so the two directions of a road do not overlap."""
    d = b - a
    norm = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)
    return np.stack([d[:, 1], -d[:, 0]], axis=1) / norm[:, None] * metres


def _segment_endpoints(net: Network) -> tuple[np.ndarray, np.ndarray]:
    a, b = net.node_xy[net.seg_from], net.node_xy[net.seg_to]
    shift = _right_offset(a, b, 6.0)
    return a + shift, b + shift


def _segment_features(net: Network, seg_ids: list[str],
                      region_ids: list[str]) -> list[dict[str, Any]]:
    a, b = _segment_endpoints(net)
    coords = np.stack([to_lonlat(a), to_lonlat(b)], axis=1).round(6).tolist()
    linked = np.asarray(seg_ids, dtype=object)[net.downstream.indices].tolist()
    ptr = net.downstream.indptr.tolist()
    downstream = [linked[p:q] for p, q in itertools.pairwise(ptr)]
    columns = zip(seg_ids, net.seg_name, net.seg_class.tolist(), net.seg_length.tolist(),
                  net.seg_free_flow.tolist(), net.seg_lanes.tolist(), net.seg_capacity.tolist(),
                  net.seg_region.tolist(), coords, downstream, strict=True)
    return [
        {"type": "Feature",
         "geometry": {"type": "LineString", "coordinates": line},
         "properties": {"kind": "segment", "id": sid, "name": name,
                        "road_class": ROAD_CLASSES[cls], "length_m": length,
                        "free_flow_kmh": ff, "lanes": lanes, "capacity_vphpl": cap,
                        "region": region_ids[reg], "downstream": down}}
        for sid, name, cls, length, ff, lanes, cap, reg, line, down in columns
    ]


def _sensor_features(net: Network, seg: np.ndarray, frac: np.ndarray,
                     seg_ids: list[str]) -> list[dict[str, Any]]:
    a, b = _segment_endpoints(net)
    xy = a[seg] + frac[:, None] * (b[seg] - a[seg])
    lonlat = to_lonlat(xy).round(6).tolist()
    ids = _ids("S", len(seg))
    return [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": point},
         "properties": {"kind": "sensor", "id": sid, "segment": seg_ids[g]}}
        for sid, g, point in zip(ids, seg.tolist(), lonlat, strict=True)
    ]


def _spot_features(spots: Spots, region_ids: list[str]) -> list[dict[str, Any]]:
    lonlat = spots.lonlat.round(6).tolist()
    return [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": lonlat[k]},
         "properties": {"kind": "spot", "id": spots.ids[k], "name": spots.names[k],
                        "capacity_instant": float(spots.capacity_instant[k]),
                        "capacity_daily": float(spots.capacity_daily[k]),
                        "opens": spots.opens[k], "closes": spots.closes[k],
                        "region": region_ids[int(spots.region[k])]}}
        for k in range(len(spots.ids))
    ]
