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

from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

ROAD_CLASSES: tuple[str, ...] = ("expressway", "arterial", "secondary", "branch")
"""Road classes, in the order of their integer codes (``City.segment_class``)."""

FEATURE_KINDS: tuple[str, ...] = ("segment", "sensor", "spot", "screen")

DEFAULT_CAPACITY_VPHPL: dict[str, float] = {
    "expressway": 2000.0,
    "arterial": 1600.0,
    "secondary": 1200.0,
    "branch": 900.0,
}


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
