"""Simulate days of history and aggregate them into a :class:`FlowDataset`, bucket by bucket.

Road readings are folded into the open bucket as they are produced (flow summed, occupancy
averaged, speed weighted by flow; NaN where a bucket got no usable reading), so memory holds
the finished buckets and one open bucket, never the raw readings. Spot buckets sum the gate
``entries``/``exits`` reported and take ``arrivals`` (true new visitors) and ``visitors``
(people inside at the bucket's end) from the simulator's ground truth.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import xarray as xr

from flowcast.city import ROAD_CLASSES, City
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_write import city_to_geojson
from flowcast.formats.dataset import (
    ROAD_VARIABLES,
    SPOT_VARIABLES,
    FlowDataset,
    make_series_dataset,
)
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.simulator.config import SimulatorConfig
from flowcast.ingest.simulator.core import Simulator, to_epoch_ms
from flowcast.ingest.simulator.spots import SpotTruth
from flowcast.progress import progress_bar

MAX_DAYS = 3660


class RoadBuckets:
    """Accumulates road readings of ``n`` sensors into ``n_buckets`` buckets in order."""

    def __init__(self, n: int, n_buckets: int) -> None:
        self.out = {name: np.full((n, n_buckets), np.nan, np.float32) for name in ROAD_VARIABLES}
        # flow sum, count; occupancy sum, count; speed x flow, its flow; speed sum, count
        self.acc = np.zeros((8, n))
        self.bucket = 0

    def add(self, bucket: int, batch: RoadBatch) -> None:
        """Fold one batch (sensor indices unique within it) into ``bucket``."""
        if bucket != self.bucket:
            self.close()
            self.bucket = bucket
        s = batch.sensor
        flow = batch.flow.astype(np.float64)
        occ = batch.occupancy.astype(np.float64)
        speed = batch.speed.astype(np.float64)
        f_ok, o_ok, v_ok = ~np.isnan(flow), ~np.isnan(occ), ~np.isnan(speed)
        weighted = f_ok & v_ok
        a = self.acc
        a[0, s] += np.where(f_ok, flow, 0.0)
        a[1, s] += f_ok
        a[2, s] += np.where(o_ok, occ, 0.0)
        a[3, s] += o_ok
        a[4, s] += np.where(weighted, flow * speed, 0.0)
        a[5, s] += np.where(weighted, flow, 0.0)
        a[6, s] += np.where(v_ok, speed, 0.0)
        a[7, s] += v_ok

    def close(self) -> None:
        """Write the open bucket into the output arrays and clear the accumulators."""
        a, b = self.acc, self.bucket
        if b >= self.out["flow"].shape[1]:
            return
        with np.errstate(invalid="ignore", divide="ignore"):
            self.out["flow"][:, b] = np.where(a[1] > 0, a[0], np.nan)
            self.out["occupancy"][:, b] = a[2] / a[3]
            mean_speed = a[6] / a[7]
            self.out["speed"][:, b] = np.where(a[5] > 0, a[4] / a[5], mean_speed)
        a[:] = 0.0


class SpotBuckets:
    """Accumulates gate readings and ground truth of ``k`` spots into buckets."""

    def __init__(self, k: int, n_buckets: int) -> None:
        self.out = {name: np.full((k, n_buckets), np.nan, np.float32) for name in SPOT_VARIABLES}
        self.acc = np.zeros((5, k))  # entries, exits, gate readings, arrivals, inside
        self.bucket = 0

    def add(self, bucket: int, batch: SpotBatch, truth: SpotTruth) -> None:
        """Fold one gate interval's readings and truth into ``bucket``."""
        if bucket != self.bucket:
            self.close()
            self.bucket = bucket
        gate = ~np.isnan(batch.entries)
        s = batch.spot[gate]
        self.acc[0, s] += batch.entries[gate]
        self.acc[1, s] += np.nan_to_num(batch.exits[gate])
        self.acc[2, s] += 1
        self.acc[3] += truth.arrivals
        self.acc[4] = truth.inside

    def close(self) -> None:
        """Write the open bucket into the output arrays and clear the accumulators."""
        a, b = self.acc, self.bucket
        if b >= self.out["entries"].shape[1]:
            return
        seen = a[2] > 0
        self.out["entries"][:, b] = np.where(seen, a[0], np.nan)
        self.out["exits"][:, b] = np.where(seen, a[1], np.nan)
        self.out["arrivals"][:, b] = a[3]
        self.out["visitors"][:, b] = a[4]
        a[:4] = 0.0


def simulate_history(city: City, start: dt.datetime, days: float, seed: int = 0,
                     config: SimulatorConfig | None = None, progress: bool = True) -> FlowDataset:
    """Simulate ``days`` days from ``start`` and aggregate them into a history dataset.

    Roads: ``(sensor, time)`` with ``config.road_bucket_s`` buckets (default 5 min) of flow
    (vehicles per bucket), occupancy (0..1) and flow-weighted speed (km/h). Spots:
    ``(spot, time)`` with ``config.spot_bucket_s`` buckets (default 15 min) of entries, exits,
    arrivals and visitors. ``start`` must fall on a spot bucket boundary; a progress bar shows
    progress on a terminal when ``progress``.
    """
    config = config if config is not None else SimulatorConfig()
    if not 0 < days <= MAX_DAYS:
        raise FlowcastUserError(f"--days must be more than 0 and at most {MAX_DAYS}, got {days}")
    start_ms = to_epoch_ms(start, city.zone)
    spot_ms, road_ms = config.spot_bucket_s * 1000, config.road_bucket_s * 1000
    if start_ms % spot_ms or start_ms % road_ms:
        raise FlowcastUserError(f"start {start.isoformat()} must fall on a whole "
                                f"{max(spot_ms, road_ms) // 60_000}-minute boundary (e.g. 00:00)")
    n_spot = max(1, round(days * 86_400_000 / spot_ms))
    end_ms = start_ms + n_spot * spot_ms
    sim = Simulator(city, start, seed, config)
    roads = RoadBuckets(city.n_sensors, (end_ms - start_ms) // road_ms)
    spots = SpotBuckets(city.n_spots, n_spot)
    step_ms = config.report_interval_s * 1000
    gate_ms = config.spot_interval_s * 1000
    until = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC)
    with progress_bar(total=(end_ms - start_ms) // step_ms, enabled=progress, unit="step",
                      desc=f"simulating {city.n_sensors} sensors", mininterval=0.5) as bar:
        for ts, road, spot in sim.batches(until):
            roads.add((ts - step_ms - start_ms) // road_ms, road)
            if ts % gate_ms == 0:
                spots.add((ts - gate_ms - start_ms) // spot_ms, spot, sim.spot_truth)
            bar.update()
    roads.close()
    spots.close()
    return _dataset(city, start_ms, road_ms, spot_ms, roads, spots, seed)


def _dataset(city: City, start_ms: int, road_ms: int, spot_ms: int, roads: RoadBuckets,
             spots: SpotBuckets, seed: int) -> FlowDataset:
    source = f"flowcast simulate (city {city.name}, seed {seed})"
    text = json.dumps(city_to_geojson(city), separators=(",", ":"))
    return FlowDataset(roads=_road_series(city, start_ms, road_ms, roads, source),
                       spots=_spot_series(city, start_ms, spot_ms, spots, source),
                       city_geojson=text)


def _times(start_ms: int, step_ms: int, n: int) -> pd.DatetimeIndex:
    return pd.to_datetime(start_ms + step_ms * np.arange(n), unit="ms")


def _road_series(city: City, start_ms: int, road_ms: int, roads: RoadBuckets,
                 source: str) -> xr.Dataset | None:
    if not city.n_sensors:
        return None
    seg = city.sensor_segment
    graph = city.sensor_neighbours
    return make_series_dataset(
        "sensor", city.sensor_ids, _times(start_ms, road_ms, roads.out["flow"].shape[1]),
        roads.out, ROAD_VARIABLES, interval_s=road_ms // 1000, timezone=city.timezone,
        source=source,
        coords={
            "segment": city.segment_ids[seg].astype(str),
            "region": city.regions[city.segment_region[seg]].astype(str),
            "road_class": np.array(ROAD_CLASSES)[city.segment_class[seg]],
            "lanes": city.segment_lanes[seg],
            "free_flow_kmh": city.segment_free_flow_kmh[seg],
            "length_m": city.segment_length_m[seg],
        },
        graph=(graph.indptr, graph.indices),
    )


def _spot_series(city: City, start_ms: int, spot_ms: int, spots: SpotBuckets,
                 source: str) -> xr.Dataset | None:
    if not city.n_spots:
        return None
    return make_series_dataset(
        "spot", city.spot_ids, _times(start_ms, spot_ms, spots.out["entries"].shape[1]),
        spots.out, SPOT_VARIABLES, interval_s=spot_ms // 1000, timezone=city.timezone,
        source=source,
        coords={"capacity_instant": city.spot_capacity_instant,
                "capacity_daily": city.spot_capacity_daily},
    )
