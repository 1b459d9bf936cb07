"""Reading a city file: GeoJSON in, a validated :class:`~flowcast.city.City` out.

Loading validates everything and refuses a bad file with one :class:`CityFileError` whose
message names the feature (by id, or by position when it has none) and the field. The fields
of each kind are documented in ``docs/city-format.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from flowcast.city import (
    DEFAULT_CAPACITY_VPHPL,
    FEATURE_KINDS,
    ROAD_CLASSES,
    City,
    Csr,
    Route,
    Screen,
)
from flowcast.errors import CityFileError
from flowcast.formats.city_fields import FeatureFields, feature_coordinates


def load_city(path: str | Path) -> City:
    """Read and validate a city GeoJSON file. Raises :class:`CityFileError` with one clear
    message on any problem (unreadable file, bad JSON, bad feature)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CityFileError(
            f"city file {path} does not exist; pass an existing --city file"
        ) from None
    except OSError as err:
        raise CityFileError(f"city file {path} cannot be read: {err.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise CityFileError(
            f"{path}: line {err.lineno} column {err.colno}: not valid JSON ({err.msg})"
        ) from None
    return city_from_geojson(document, source=str(path))


def city_from_geojson(document: Any, source: str = "<city>") -> City:
    """Validate a parsed GeoJSON document and build the :class:`City` registry."""
    fx = FeatureFields(source)
    if not isinstance(document, Mapping) or document.get("type") != "FeatureCollection":
        raise CityFileError(f"{source}: top level must be a GeoJSON FeatureCollection")
    meta = document.get("flowcast", {})
    if not isinstance(meta, Mapping):
        raise CityFileError(f"{source}: member 'flowcast' must be an object")
    name = meta.get("city", Path(source).stem)
    timezone = meta.get("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise CityFileError(
            f"{source}: flowcast.timezone {timezone!r} is not an IANA time zone "
            "(for example 'Asia/Shanghai')"
        ) from None
    features = document.get("features")
    if not isinstance(features, list):
        raise CityFileError(f"{source}: member 'features' must be a list")
    grouped = _group_features(fx, features)
    segments = _parse_segments(fx, grouped["segment"])
    seg_index = {sid: i for i, sid in enumerate(segments["ids"])}
    sensors = _parse_sensors(fx, grouped["sensor"], seg_index)
    regions = sorted(set(segments["region"]))
    spots = _parse_spots(fx, grouped["spot"], regions)
    regions = sorted(set(regions) | set(spots["region"]))
    region_pos = {r: i for i, r in enumerate(regions)}
    downstream, upstream = _links(fx, grouped["segment"], segments["ids"], seg_index)
    screens = _parse_screens(fx, grouped["screen"], seg_index)
    return City(
        name=str(name),
        timezone=str(timezone),
        regions=np.array(regions, dtype=object),
        segment_ids=np.array(segments["ids"], dtype=object),
        segment_names=np.array(segments["name"], dtype=object),
        segment_class=np.array(segments["class"], dtype=np.int8),
        segment_length_m=np.array(segments["length"], dtype=np.float64),
        segment_free_flow_kmh=np.array(segments["free_flow"], dtype=np.float64),
        segment_lanes=np.array(segments["lanes"], dtype=np.int16),
        segment_capacity_vphpl=np.array(segments["capacity"], dtype=np.float64),
        segment_region=np.array([region_pos[r] for r in segments["region"]], dtype=np.int32),
        segment_geometry=segments["geometry"],
        downstream=downstream,
        upstream=upstream,
        sensor_ids=np.array(sensors["ids"], dtype=object),
        sensor_segment=np.array(sensors["segment"], dtype=np.int32),
        sensor_lonlat=np.array(sensors["lonlat"], dtype=np.float64).reshape(-1, 2),
        spot_ids=np.array(spots["ids"], dtype=object),
        spot_names=np.array(spots["name"], dtype=object),
        spot_capacity_instant=np.array(spots["cap_instant"], dtype=np.float64),
        spot_capacity_daily=np.array(spots["cap_daily"], dtype=np.float64),
        spot_opens_min=np.array(spots["opens"], dtype=np.int16),
        spot_closes_min=np.array(spots["closes"], dtype=np.int16),
        spot_warn=np.array(spots["warn"], dtype=np.float64),
        spot_critical=np.array(spots["critical"], dtype=np.float64),
        spot_region=np.array([region_pos[r] for r in spots["region"]], dtype=np.int32),
        spot_lonlat=np.array(spots["lonlat"], dtype=np.float64).reshape(-1, 2),
        screens=screens,
    )


def _group_features(
    fx: FeatureFields, features: list[Any]
) -> dict[str, list[tuple[int, Mapping[str, Any], Any]]]:
    grouped: dict[str, list[tuple[int, Mapping[str, Any], Any]]] = {k: [] for k in FEATURE_KINDS}
    seen: dict[tuple[str, str], int] = {}
    for position, feature in enumerate(features):
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise fx.fail(f"feature #{position}", "is not a GeoJSON Feature")
        props = feature.get("properties")
        if not isinstance(props, Mapping):
            raise fx.fail(f"feature #{position}", "field 'properties' must be an object")
        kind = props.get("kind")
        if kind not in FEATURE_KINDS:
            raise fx.fail(
                f"feature #{position}",
                f"field 'kind' = {kind!r}; expected one of {', '.join(FEATURE_KINDS)}",
            )
        where = fx.where(kind, position, props)
        ident = fx.ident(props, "id", where)
        if (kind, ident) in seen:
            raise fx.fail(
                where, f"duplicate id: features #{seen[(kind, ident)]} and #{position} share it"
            )
        seen[(kind, ident)] = position
        grouped[kind].append((position, props, feature.get("geometry")))
    if not grouped["segment"] and not grouped["spot"]:
        raise CityFileError(f"{fx.source}: the city has no segments and no spots")
    return grouped


def _parse_segments(
    fx: FeatureFields, items: list[tuple[int, Mapping[str, Any], Any]]
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {
        k: [] for k in ("ids", "name", "class", "length", "free_flow", "lanes", "capacity",
                        "region", "geometry")
    }
    for position, props, geometry in items:
        where = fx.where("segment", position, props)
        road_class = props.get("road_class")
        if road_class not in ROAD_CLASSES:
            expected = ", ".join(ROAD_CLASSES)
            raise fx.fail(where, f"field 'road_class' = {road_class!r}; expected one of {expected}")
        out["ids"].append(props["id"])
        out["name"].append(fx.text(props, "name", where, default=props["id"]))
        out["class"].append(ROAD_CLASSES.index(road_class))
        out["length"].append(fx.number(props, "length_m", where, positive=True))
        out["free_flow"].append(
            fx.number(props, "free_flow_kmh", where, positive=True, maximum=200.0)
        )
        lanes = fx.number(props, "lanes", where, default=2, minimum=1, maximum=16)
        if lanes != int(lanes):
            raise fx.fail(where, f"field 'lanes' must be a whole number, got {lanes!r}")
        out["lanes"].append(int(lanes))
        out["capacity"].append(
            fx.number(props, "capacity_vphpl", where,
                      default=DEFAULT_CAPACITY_VPHPL[road_class], positive=True)
        )
        out["region"].append(fx.ident(props, "region", where))
        out["geometry"].append(feature_coordinates(fx, geometry, where, "line"))
    return out


def _parse_sensors(
    fx: FeatureFields, items: list[tuple[int, Mapping[str, Any], Any]], seg_index: Mapping[str, int]
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"ids": [], "segment": [], "lonlat": []}
    for position, props, geometry in items:
        where = fx.where("sensor", position, props)
        segment = fx.text(props, "segment", where)
        if segment not in seg_index:
            raise fx.fail(where, f"field 'segment' = {segment!r} names no segment in this city")
        out["ids"].append(props["id"])
        out["segment"].append(seg_index[segment])
        out["lonlat"].append(feature_coordinates(fx, geometry, where, "point")[0])
    return out


def _parse_spots(
    fx: FeatureFields, items: list[tuple[int, Mapping[str, Any], Any]], regions: list[str]
) -> dict[str, list[Any]]:
    keys = ("ids", "name", "cap_instant", "cap_daily", "opens", "closes", "warn", "critical",
            "region", "lonlat")
    out: dict[str, list[Any]] = {k: [] for k in keys}
    for position, props, geometry in items:
        where = fx.where("spot", position, props)
        out["ids"].append(props["id"])
        out["name"].append(fx.text(props, "name", where, default=props["id"]))
        out["cap_instant"].append(fx.number(props, "capacity_instant", where, positive=True))
        out["cap_daily"].append(fx.number(props, "capacity_daily", where, positive=True))
        opens = fx.hhmm(props, "opens", where, "08:00")
        closes = fx.hhmm(props, "closes", where, "18:00")
        if closes <= opens:
            raise fx.fail(where, "field 'closes' must be later than 'opens'")
        out["opens"].append(opens)
        out["closes"].append(closes)
        warn = fx.number(props, "warn", where, default=0.8, positive=True)
        critical = fx.number(props, "critical", where, default=1.0, positive=True)
        if critical < warn:
            raise fx.fail(where, f"field 'critical' ({critical}) must not be below 'warn' ({warn})")
        out["warn"].append(warn)
        out["critical"].append(critical)
        default_region = regions[0] if regions else "spots"
        out["region"].append(fx.ident({"region": props.get("region", default_region)},
                                      "region", where))
        area = feature_coordinates(fx, geometry, where, "area")
        out["lonlat"].append(tuple(np.mean(np.array(area), axis=0)))
    return out


def _links(
    fx: FeatureFields,
    items: list[tuple[int, Mapping[str, Any], Any]],
    ids: list[str],
    seg_index: Mapping[str, int],
) -> tuple[Csr, Csr]:
    src: list[int] = []
    dst: list[int] = []
    for position, props, _ in items:
        where = fx.where("segment", position, props)
        me = seg_index[props["id"]]
        for key, forward in (("downstream", True), ("upstream", False)):
            for other in fx.id_list(props, key, where):
                if other not in seg_index:
                    raise fx.fail(where, f"field '{key}' links to {other!r}, which is no segment")
                if other == props["id"]:
                    raise fx.fail(where, f"field '{key}' links the segment to itself")
                a, b = (me, seg_index[other]) if forward else (seg_index[other], me)
                src.append(a)
                dst.append(b)
    n = len(ids)
    s, d = np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)
    return Csr.from_edges(n, s, d), Csr.from_edges(n, d, s)


def _parse_screens(
    fx: FeatureFields, items: list[tuple[int, Mapping[str, Any], Any]], seg_index: Mapping[str, int]
) -> tuple[Screen, ...]:
    screens: list[Screen] = []
    for position, props, geometry in items:
        where = fx.where("screen", position, props)
        raw_routes = props.get("routes")
        if not isinstance(raw_routes, list) or len(raw_routes) < 1:
            raise fx.fail(where, "field 'routes' must be a non-empty list of routes")
        routes = []
        for r, route in enumerate(raw_routes):
            if not isinstance(route, Mapping):
                raise fx.fail(where, f"field 'routes[{r}]' must be an object")
            rwhere = f"{where} routes[{r}]"
            rid = fx.ident(route, "id", rwhere)
            segs = fx.id_list(route, "segments", rwhere)
            if not segs:
                raise fx.fail(rwhere, "field 'segments' must list at least one segment")
            missing = [s for s in segs if s not in seg_index]
            if missing:
                raise fx.fail(rwhere, f"field 'segments' names unknown segment {missing[0]!r}")
            routes.append(Route(rid, fx.text(route, "name", rwhere, default=rid),
                                np.array([seg_index[s] for s in segs], dtype=np.int32)))
        lonlat = feature_coordinates(fx, geometry, where, "point")[0]
        screens.append(Screen(props["id"], fx.text(props, "name", where, default=props["id"]),
                              fx.text(props, "destination", where, default=""),
                              tuple(routes), lonlat))
    return tuple(screens)
