"""A minimal city for a road dataset that has none: one segment per sensor.

Imported detector data (``flowcast import``) knows its sensors, their readings and at most an
adjacency matrix; the engine (``flowcast run``, ``flowcast replay``) also needs segments, road
classes, free-flow speeds and regions. :func:`minimal_city` makes the smallest city that fits
(``docs/dataset-format.md``, "A city for imported data"):

- one segment per sensor, both with the sensor's id (segment and sensor ids live apart);
- segment links from the dataset's graph: edge i -> j means segment i feeds segment j
  (self-loops dropped); no links without a graph;
- a free-flow speed per segment: given, or the :data:`FREE_FLOW_PERCENTILE` th percentile of
  the sensor's observed speeds above 0 (a sensor without one gets the median of the others);
- a road class: given, or from that free-flow speed (:data:`CLASS_BY_FREE_FLOW`);
- one region (one Kafka partition: the engine's neighbour features see the whole graph, as
  training does), :data:`SEGMENT_LENGTH_M` metres, :data:`LANES` lanes, the class's default
  capacity;
- a schematic geometry: segments on a grid from 0° E 0° N, not where the roads are.

The city is checked by reading it back with :func:`~flowcast.formats.city_read.city_from_geojson`,
so it is exactly what a city file of it loads to.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr

from flowcast.city import DEFAULT_CAPACITY_VPHPL, ROAD_CLASSES, City, Csr
from flowcast.errors import CityFileError, DatasetError
from flowcast.formats.city_read import city_from_geojson
from flowcast.formats.city_write import city_to_geojson
from flowcast.formats.dataset import graph_of

FREE_FLOW_PERCENTILE = 85.0
"""Free-flow speed = this percentile of a sensor's observed speeds above 0 (the traffic
engineer's 85th-percentile speed; night-time traffic sets it)."""
CLASS_BY_FREE_FLOW: tuple[tuple[float, str], ...] = (
    (70.0, "expressway"), (45.0, "arterial"), (35.0, "secondary"), (0.0, "branch"))
"""(lowest free-flow speed in km/h, road class), fastest first: the simulator's classes
(expressways 80-100 km/h, arterials 50-60, secondary roads 40, branches 30)."""
SEGMENT_LENGTH_M = 1000.0  # unknown for imported data: travel times then read as s per km
LANES = 2
REGION = "all"
FREE_FLOW_RANGE_KMH = (5.0, 200.0)  # the city format takes (0, 200]; below 5 is no road speed
_GRID_STEP_DEG = 0.01  # about 1.1 km between neighbouring segments on the schematic grid
_SEGMENT_DEG = 0.008


def minimal_city(roads: xr.Dataset, *, name: str, road_class: str | None = None,
                 free_flow_kmh: float | None = None) -> City:
    """The minimal city of the road series ``roads`` (dims ``(sensor, time)``, ``speed`` in
    km/h if any, optional CSR graph): see the module docstring.

    ``road_class`` (one of :data:`~flowcast.city.ROAD_CLASSES`) and ``free_flow_kmh`` (km/h)
    apply to every segment when given; None derives them from the data. Raises
    :class:`~flowcast.errors.DatasetError` when a free-flow speed cannot be derived (no speed
    above 0) or a sensor id cannot be a city id.
    """
    ids = np.asarray(roads["sensor"].values).astype(str)
    n = len(ids)
    free_flow = (np.full(n, float(free_flow_kmh)) if free_flow_kmh is not None
                 else derived_free_flow(roads))
    if road_class is not None and road_class not in ROAD_CLASSES:
        raise DatasetError(f"road class {road_class!r} is not one of {', '.join(ROAD_CLASSES)}")
    classes = (np.full(n, ROAD_CLASSES.index(road_class), np.int8) if road_class is not None
               else class_codes(free_flow))
    src, dst = _links(roads, n)
    geometry, midpoints = _grid(n)
    nothing = np.array([], dtype=object)
    empty = np.array([], dtype=np.float64)
    city = City(
        name=name, timezone=str(roads.attrs.get("timezone") or "Asia/Shanghai"),
        regions=np.array([REGION], dtype=object),
        segment_ids=ids.astype(object), segment_names=ids.astype(object),
        segment_class=classes,
        segment_length_m=np.full(n, SEGMENT_LENGTH_M),
        segment_free_flow_kmh=free_flow,
        segment_lanes=np.full(n, LANES, np.int16),
        segment_capacity_vphpl=np.array([DEFAULT_CAPACITY_VPHPL[ROAD_CLASSES[c]]
                                         for c in classes], dtype=np.float64),
        segment_region=np.zeros(n, np.int32), segment_geometry=geometry,
        downstream=Csr.from_edges(n, src, dst), upstream=Csr.from_edges(n, dst, src),
        sensor_ids=ids.astype(object), sensor_segment=np.arange(n, dtype=np.int32),
        sensor_lonlat=midpoints,
        spot_ids=nothing, spot_names=nothing, spot_capacity_instant=empty,
        spot_capacity_daily=empty, spot_opens_min=np.array([], np.int16),
        spot_closes_min=np.array([], np.int16), spot_warn=empty, spot_critical=empty,
        spot_region=np.array([], np.int32), spot_lonlat=np.empty((0, 2)),
    )
    try:
        return city_from_geojson(city_to_geojson(city), source="the city for this data")
    except CityFileError as err:
        raise DatasetError(f"{err}; city ids are 1-64 letters, digits and _ . : -, so "
                           "rename the sensor in the data to make a city for it") from None


def derived_free_flow(roads: xr.Dataset) -> np.ndarray:
    """Free-flow speed per sensor (km/h, float64 ``(N,)``, 0.1 km/h steps): the
    :data:`FREE_FLOW_PERCENTILE` th percentile of its speeds above 0, the median of the other
    sensors' where it has none, clipped to :data:`FREE_FLOW_RANGE_KMH`."""
    if "speed" not in roads.data_vars:
        raise DatasetError("the data has no speed to derive free-flow speeds from; give "
                           "--free-flow KMH")
    speed = np.asarray(roads["speed"].values, np.float64)
    moving = np.where(speed > 0, speed, np.nan)
    with warnings.catch_warnings():  # a sensor without a moving speed is handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        percentile = np.nanpercentile(moving, FREE_FLOW_PERCENTILE, axis=1)
    known = np.isfinite(percentile)
    if not known.any():
        raise DatasetError("no sensor has a speed above 0 to derive a free-flow speed from; "
                           "give --free-flow KMH")
    percentile[~known] = np.median(percentile[known])
    return np.round(np.clip(percentile, *FREE_FLOW_RANGE_KMH), 1)


def class_codes(free_flow_kmh: np.ndarray) -> np.ndarray:
    """Road-class code (into :data:`~flowcast.city.ROAD_CLASSES`, int8) of each free-flow speed
    (km/h) by :data:`CLASS_BY_FREE_FLOW`."""
    speed = np.asarray(free_flow_kmh, np.float64)
    codes = np.full(speed.shape, ROAD_CLASSES.index(CLASS_BY_FREE_FLOW[-1][1]), np.int8)
    for lowest, name in reversed(CLASS_BY_FREE_FLOW[:-1]):
        codes[speed >= lowest] = ROAD_CLASSES.index(name)
    return codes


def describe_city(city: City) -> str:
    """One line for a summary: segments per road class, the free-flow range (km/h), links."""
    counts = np.bincount(city.segment_class.astype(np.int64), minlength=len(ROAD_CLASSES))
    classes = ", ".join(f"{ROAD_CLASSES[c]} {k}" for c, k in enumerate(counts) if k)
    low, high = city.segment_free_flow_kmh.min(), city.segment_free_flow_kmh.max()
    speeds = f"{low:g} km/h" if low == high else f"{low:g}..{high:g} km/h"
    return (f"{city.n_segments} segments, one per sensor ({classes}); free flow {speeds}; "
            f"{len(city.downstream.indices)} links")


def _links(roads: xr.Dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Segment links (source, target) from the dataset's sensor graph, self-loops left out."""
    graph = graph_of(roads)
    if graph is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    indptr, indices = (np.asarray(a, np.int64) for a in graph)
    if len(indptr) != n + 1:
        raise DatasetError(f"the dataset's graph has {len(indptr) - 1} rows for {n} sensors")
    src = np.repeat(np.arange(n), np.diff(indptr))
    keep = src != indices
    return src[keep], indices[keep]


def _grid(n: int) -> tuple[list[list[tuple[float, float]]], np.ndarray]:
    """``n`` short west-east segments on a square grid (lon, lat degrees) and their
    midpoints ``(n, 2)``, where each segment's sensor stands."""
    columns = max(1, math.ceil(math.sqrt(n)))
    k = np.arange(n)
    lon = (k % columns) * _GRID_STEP_DEG
    lat = (k // columns) * _GRID_STEP_DEG
    geometry = [[(round(float(x), 6), round(float(y), 6)),
                 (round(float(x) + _SEGMENT_DEG, 6), round(float(y), 6))]
                for x, y in zip(lon, lat, strict=True)]
    midpoints = np.column_stack([lon + _SEGMENT_DEG / 2, lat]).round(6)
    return geometry, midpoints
