"""The city registry: road segments, the sensors on them, scenic spots, regions and screens.

A city is one GeoJSON ``FeatureCollection`` (RFC 7946, WGS84 lon/lat). Every feature has a
``properties.kind`` of ``segment``, ``sensor``, ``spot`` or ``screen``; the collection carries a
foreign member ``"flowcast": {"city": NAME, "timezone": "Asia/Shanghai"}``. The fields of each kind
are documented in ``docs/city-format.md``.

Loading validates everything and refuses a bad file with one :class:`CityFileError` whose message
names the feature (by id, or by position when it has none) and the field. Ids map to dense integer
indices; the road graph is exposed as CSR arrays (``indptr``, ``indices``) for the kernels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from flowcast.errors import CityFileError

ROAD_CLASSES: tuple[str, ...] = ("expressway", "arterial", "secondary", "branch")
"""Road classes, in the order of their integer codes (``City.segment_class``)."""

FEATURE_KINDS: tuple[str, ...] = ("segment", "sensor", "spot", "screen")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Csr:
    """A sparse adjacency in compressed-sparse-row form: row ``i``'s neighbours are
    ``indices[indptr[i]:indptr[i + 1]]``. ``indptr`` has ``n + 1`` int64 entries."""

    indptr: np.ndarray
    indices: np.ndarray

    @property
    def n_rows(self) -> int:
        """Number of rows (nodes)."""
        return len(self.indptr) - 1

    def neighbours(self, row: int) -> np.ndarray:
        """Column indices adjacent to ``row``."""
        return self.indices[self.indptr[row] : self.indptr[row + 1]]

    @staticmethod
    def from_edges(n: int, src: np.ndarray, dst: np.ndarray) -> Csr:
        """Build a CSR with ``n`` rows from edge lists; duplicate edges are kept once,
        and each row's neighbours come out sorted."""
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        if len(src):
            pairs = np.unique(np.stack([src, dst], axis=1), axis=0)
            src, dst = pairs[:, 0], pairs[:, 1]
        counts = np.bincount(src, minlength=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return Csr(indptr=indptr, indices=dst.astype(np.int32))

    def relabel(self, local: np.ndarray, n: int) -> Csr:
        """The subgraph on the rows that ``local`` maps to ``0 .. n - 1`` (``local[i]`` is
        row ``i``'s new index, -1 to drop it): edges between two kept rows, renumbered."""
        local = np.asarray(local, np.int64)
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        keep = (local[rows] >= 0) & (local[self.indices] >= 0)
        return Csr.from_edges(n, local[rows[keep]], local[self.indices[keep]])

    def to_dense(self) -> np.ndarray:
        """The 0/1 adjacency matrix, shape ``(n, n)``; for tests and small graphs only."""
        dense = np.zeros((self.n_rows, self.n_rows), dtype=np.int8)
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        dense[rows, self.indices] = 1
        return dense


@dataclass(frozen=True)
class Route:
    """One alternative a guidance screen advises on: an ordered list of segment indices."""

    id: str
    name: str
    segments: np.ndarray


@dataclass(frozen=True)
class Screen:
    """A guidance screen at a point of the network, ranking routes to a destination."""

    id: str
    name: str
    destination: str
    routes: tuple[Route, ...]
    lonlat: tuple[float, float]


@dataclass
class City:
    """The validated registry. Arrays are aligned with the id arrays of their kind.

    Units: lengths in metres, speeds in km/h, capacities in vehicles per hour per lane
    (roads) and visitors (spots), times of day in minutes after local midnight.
    """

    name: str
    timezone: str
    regions: np.ndarray  # (R,) str
    segment_ids: np.ndarray  # (G,) str
    segment_names: np.ndarray  # (G,) str
    segment_class: np.ndarray  # (G,) int8 code into ROAD_CLASSES
    segment_length_m: np.ndarray  # (G,) float64
    segment_free_flow_kmh: np.ndarray  # (G,) float64
    segment_lanes: np.ndarray  # (G,) int16
    segment_capacity_vphpl: np.ndarray  # (G,) float64, vehicles / hour / lane
    segment_region: np.ndarray  # (G,) int32 index into regions
    segment_geometry: list[list[tuple[float, float]]]
    downstream: Csr  # segment -> segments it feeds
    upstream: Csr  # segment -> segments feeding it
    sensor_ids: np.ndarray  # (N,) str
    sensor_segment: np.ndarray  # (N,) int32
    sensor_lonlat: np.ndarray  # (N, 2) float64
    spot_ids: np.ndarray  # (K,) str
    spot_names: np.ndarray  # (K,) str
    spot_capacity_instant: np.ndarray  # (K,) float64 visitors in the spot at once
    spot_capacity_daily: np.ndarray  # (K,) float64 arrivals per day
    spot_opens_min: np.ndarray  # (K,) int16
    spot_closes_min: np.ndarray  # (K,) int16
    spot_warn: np.ndarray  # (K,) float64 saturation ratio
    spot_critical: np.ndarray  # (K,) float64 saturation ratio
    spot_region: np.ndarray  # (K,) int32
    spot_lonlat: np.ndarray  # (K, 2) float64
    screens: tuple[Screen, ...] = ()
    _sensor_lookup: pd.Index = field(init=False, repr=False)
    _segment_lookup: pd.Index = field(init=False, repr=False)
    _spot_lookup: pd.Index = field(init=False, repr=False)
    _region_lookup: pd.Index = field(init=False, repr=False)
    _sensor_neighbours: Csr | None = field(init=False, repr=False, default=None)
    _sensor_directed: tuple[Csr, Csr] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self._sensor_lookup = pd.Index(self.sensor_ids)
        self._segment_lookup = pd.Index(self.segment_ids)
        self._spot_lookup = pd.Index(self.spot_ids)
        self._region_lookup = pd.Index(self.regions)

    # ----- sizes -------------------------------------------------------------------------
    @property
    def n_sensors(self) -> int:
        """Number of road sensors."""
        return len(self.sensor_ids)

    @property
    def n_segments(self) -> int:
        """Number of road segments."""
        return len(self.segment_ids)

    @property
    def n_spots(self) -> int:
        """Number of scenic spots."""
        return len(self.spot_ids)

    @property
    def n_regions(self) -> int:
        """Number of regions (the Kafka partitioning key of road readings)."""
        return len(self.regions)

    @property
    def zone(self) -> ZoneInfo:
        """The city's time zone, for local time of day and holidays."""
        return ZoneInfo(self.timezone)

    # ----- id <-> index ------------------------------------------------------------------
    def sensor_index(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Dense sensor indices (int32) for an array of ids; ``-1`` where unknown."""
        return self._sensor_lookup.get_indexer(np.asarray(ids, dtype=object)).astype(np.int32)

    def segment_index(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Dense segment indices (int32); ``-1`` where unknown."""
        return self._segment_lookup.get_indexer(np.asarray(ids, dtype=object)).astype(np.int32)

    def spot_index(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Dense spot indices (int32); ``-1`` where unknown."""
        return self._spot_lookup.get_indexer(np.asarray(ids, dtype=object)).astype(np.int32)

    def region_index(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Dense region indices (int32); ``-1`` where unknown."""
        return self._region_lookup.get_indexer(np.asarray(ids, dtype=object)).astype(np.int32)

    @property
    def sensor_region(self) -> np.ndarray:
        """Region index of each sensor (through its segment), int32 shape ``(N,)``."""
        return self.segment_region[self.sensor_segment]

    @property
    def sensor_class(self) -> np.ndarray:
        """Road-class code of each sensor's segment, int8 shape ``(N,)``."""
        return self.segment_class[self.sensor_segment]

    @property
    def sensor_neighbours(self) -> Csr:
        """Undirected sensor graph: two sensors are neighbours when they sit on the same
        segment or on segments joined by a link (either direction). No self loops."""
        if self._sensor_neighbours is None:
            self._sensor_neighbours = _sensor_graph(self)
        return self._sensor_neighbours

    @property
    def sensor_downstream(self) -> Csr:
        """Directed sensor graph: sensor ``s``'s row holds the sensors on the segments that
        ``s``'s segment feeds (``downstream``: the queue ahead). Sensors sharing ``s``'s
        segment are not in it (their order along the segment is unknown). No self loops."""
        return self._directed()[0]

    @property
    def sensor_upstream(self) -> Csr:
        """Directed sensor graph: sensor ``s``'s row holds the sensors on the segments feeding
        ``s``'s segment (``upstream``: the traffic arriving); the transpose of
        :attr:`sensor_downstream`."""
        return self._directed()[1]

    def _directed(self) -> tuple[Csr, Csr]:
        if self._sensor_directed is None:
            src = np.repeat(np.arange(self.n_segments), np.diff(self.downstream.indptr))
            dst = self.downstream.indices.astype(np.int64)
            a, b = _sensor_pairs(self, src, dst)
            keep = a != b
            a, b = a[keep], b[keep]
            self._sensor_directed = (Csr.from_edges(self.n_sensors, a, b),
                                     Csr.from_edges(self.n_sensors, b, a))
        return self._sensor_directed

    def sensor_graphs(self, sensors: np.ndarray | None = None) -> tuple[Csr, Csr, Csr]:
        """The undirected, upstream and downstream sensor graphs restricted to ``sensors``
        (global indices, default all; -1 for a sensor the city does not know, which gets no
        edges), rows and columns numbered by position in ``sensors`` (a partition's local
        order, a dataset's sensor order)."""
        if sensors is None:
            return self.sensor_neighbours, self.sensor_upstream, self.sensor_downstream
        held = np.asarray(sensors, np.int64)
        known = held >= 0
        local = np.full(self.n_sensors, -1, np.int64)
        local[held[known]] = np.flatnonzero(known)
        return tuple(g.relabel(local, len(held)) for g in (  # type: ignore[return-value]
            self.sensor_neighbours, self.sensor_upstream, self.sensor_downstream))

    def sensors_in_region(self, region: int) -> np.ndarray:
        """Indices of the sensors whose segment lies in ``region``."""
        return np.flatnonzero(self.sensor_region == region)


def _sensor_graph(city: City) -> Csr:
    """Sensor adjacency derived from segment links and shared segments."""
    seg_src = np.repeat(np.arange(city.n_segments), np.diff(city.downstream.indptr))
    seg_dst = city.downstream.indices.astype(np.int64)
    # undirected segment pairs, plus each segment with itself (sensors sharing a segment)
    own = np.arange(city.n_segments)
    src, dst = _sensor_pairs(city, np.concatenate([seg_src, seg_dst, own]),
                             np.concatenate([seg_dst, seg_src, own]))
    keep = src != dst
    return Csr.from_edges(city.n_sensors, src[keep], dst[keep])


def _sensor_pairs(city: City, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (sensor on segment ``a[i]``, sensor on segment ``b[i]``) pair, for all ``i``, as
    two int64 arrays (self pairs included), without a Python loop."""
    order = np.argsort(city.sensor_segment, kind="stable")
    count = np.bincount(city.sensor_segment, minlength=city.n_segments)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    pairs = count[a] * count[b]  # sensors on a x sensors on b, per segment pair
    edge = np.repeat(np.arange(len(a)), pairs)
    within = np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    width = count[b][edge]
    src = order[start[a][edge] + within // width]
    dst = order[start[b][edge] + within % width]
    return src.astype(np.int64), dst.astype(np.int64)


# ======================================================================================
# Loading and validation
# ======================================================================================


class _Features:
    """Feature access with error messages that name the feature and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> CityFileError:
        return CityFileError(f"{self.source}: {where}: {message}")

    @staticmethod
    def where(kind: str, position: int, props: Mapping[str, Any]) -> str:
        ident = props.get("id")
        if isinstance(ident, str) and ident:
            return f"{kind} '{ident}'"
        return f"feature #{position} ({kind})"

    def text(
        self, props: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = props.get(key, default)
        if value is None:
            raise self.fail(where, f"field '{key}' is missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"field '{key}' must be a non-empty string, got {value!r}")
        return value

    def ident(self, props: Mapping[str, Any], key: str, where: str) -> str:
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
        value = props.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"field '{key}' must be a list of ids, got {value!r}")
        return value

    def hhmm(self, props: Mapping[str, Any], key: str, where: str, default: str) -> int:
        value = props.get(key, default)
        match = _HHMM.match(value) if isinstance(value, str) else None
        if match is None:
            raise self.fail(where, f"field '{key}' must be a time 'HH:MM', got {value!r}")
        return int(match.group(1)) * 60 + int(match.group(2))


def _coords(fx: _Features, geometry: Any, where: str, expected: str) -> list[tuple[float, float]]:
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


_GEOMETRY_TYPES: dict[str, tuple[str, ...]] = {
    "line": ("LineString",),
    "point": ("Point",),
    "area": ("Point", "Polygon"),
}

DEFAULT_CAPACITY_VPHPL: dict[str, float] = {
    "expressway": 2000.0,
    "arterial": 1600.0,
    "secondary": 1200.0,
    "branch": 900.0,
}


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
    fx = _Features(source)
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
    fx: _Features, features: list[Any]
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
    fx: _Features, items: list[tuple[int, Mapping[str, Any], Any]]
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
        out["geometry"].append(_coords(fx, geometry, where, "line"))
    return out


def _parse_sensors(
    fx: _Features, items: list[tuple[int, Mapping[str, Any], Any]], seg_index: Mapping[str, int]
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"ids": [], "segment": [], "lonlat": []}
    for position, props, geometry in items:
        where = fx.where("sensor", position, props)
        segment = fx.text(props, "segment", where)
        if segment not in seg_index:
            raise fx.fail(where, f"field 'segment' = {segment!r} names no segment in this city")
        out["ids"].append(props["id"])
        out["segment"].append(seg_index[segment])
        out["lonlat"].append(_coords(fx, geometry, where, "point")[0])
    return out


def _parse_spots(
    fx: _Features, items: list[tuple[int, Mapping[str, Any], Any]], regions: list[str]
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
        area = _coords(fx, geometry, where, "area")
        out["lonlat"].append(tuple(np.mean(np.array(area), axis=0)))
    return out


def _links(
    fx: _Features,
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
    fx: _Features, items: list[tuple[int, Mapping[str, Any], Any]], seg_index: Mapping[str, int]
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
        lonlat = _coords(fx, geometry, where, "point")[0]
        screens.append(Screen(props["id"], fx.text(props, "name", where, default=props["id"]),
                              fx.text(props, "destination", where, default=""),
                              tuple(routes), lonlat))
    return tuple(screens)


# ======================================================================================
# Writing
# ======================================================================================


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


def save_city(city: City, path: str | Path) -> None:
    """Write the registry as GeoJSON (atomically: a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(city_to_geojson(city), separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)
