"""Traffic state of every segment: a point queue per segment on a speed-flow-density relation.

Per reporting interval of ``dt`` hours, with demand ``d`` (veh/h) and effective capacity
``c`` (veh/h, cut by incidents and by a full segment downstream)::

    served = min(queue + d dt, c dt)          vehicles passing the detector
    queue  = min(queue + d dt - served, 2 x storage)   carried over (the rest divert)
    x      = served / (c dt)                  volume / capacity, 0..1
    v_moving = v_free (1 - 0.5 x^2.5)         uncongested branch (0.5 v_free at capacity)
    k      = min(k_jam, q / v_moving + queue / (L lanes))     veh/km/lane, q = served/dt/lanes
    speed  = min(v_moving, q / k)             fundamental identity q = k v
    occupancy = k * l_eff                     l_eff = vehicle + detector length

Spill-back: once a segment's queue fills more than half its storage (``L lanes k_jam``), the
segments feeding it (its ``City.upstream`` neighbours) lose discharge capacity: each loses
``0.9 x`` the mean fill (beyond half) of the segments it feeds, since only the traffic turning
into a full segment is held. Their own queues grow and the jam travels upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowcast.city import City

K_JAM = 140.0
"""Jam density, vehicles per km per lane."""
L_EFF_KM = 0.0065
"""Effective vehicle length seen by a loop (vehicle + loop), km: occupancy = density x this."""
MIN_SPEED_KMH = 3.0
MAX_QUEUE_STORAGES = 2.0
"""A queue never exceeds this many times its segment's storage: beyond it, drivers divert."""
BLOCK_START = 0.5
"""Fraction of a segment's storage its queue must fill before upstream segments are held back."""
BLOCK_MAX = 0.9
"""Fraction of discharge capacity a segment loses when everything downstream is full."""


@dataclass
class SegmentState:
    """Segment conditions over one reporting interval, each float64 shape ``(G,)``:
    ``flow_vph`` vehicles/hour served, ``speed_kmh``, ``occupancy`` 0..1, ``queue_veh``."""

    flow_vph: np.ndarray
    speed_kmh: np.ndarray
    occupancy: np.ndarray
    queue_veh: np.ndarray


class RoadModel:
    """Queues, incidents and speeds of every segment of a city, advanced one interval at a time."""

    def __init__(self, city: City, interval_s: int) -> None:
        self.dt_h = interval_s / 3600.0
        self.lanes = city.segment_lanes.astype(np.float64)
        self.length_km = city.segment_length_m / 1000.0
        self.free_flow = city.segment_free_flow_kmh
        self.capacity_vph = city.segment_capacity_vphpl * self.lanes
        self.storage = self.length_km * self.lanes * K_JAM
        self.down_ptr = city.downstream.indptr
        self.down_idx = city.downstream.indices
        self.has_down = np.diff(self.down_ptr) > 0
        self.queue = np.zeros(city.n_segments)
        self.incident_until_ms = np.zeros(city.n_segments, np.int64)
        self.incident_factor = np.ones(city.n_segments)

    def start_incidents(self, segments: np.ndarray, now_ms: int, minutes: np.ndarray,
                        capacity_factor: np.ndarray) -> None:
        """Cut the capacity of ``segments`` to ``capacity_factor`` (0..1) for ``minutes``."""
        segments = np.asarray(segments, np.int64)
        self.incident_until_ms[segments] = now_ms + (np.asarray(minutes) * 60_000).astype(np.int64)
        self.incident_factor[segments] = capacity_factor

    def holdback(self) -> np.ndarray:
        """Fraction of each segment's discharge capacity lost to full segments downstream."""
        fill = np.clip((self.queue / self.storage - BLOCK_START) / (1.0 - BLOCK_START), 0.0, 1.0)
        mean = np.zeros(len(fill))
        if len(self.down_idx):
            rows = np.flatnonzero(self.has_down)
            total = np.add.reduceat(fill[self.down_idx], self.down_ptr[rows])
            mean[rows] = total / np.diff(self.down_ptr)[rows]
        return BLOCK_MAX * mean

    def step(self, demand_vph: np.ndarray, now_ms: int) -> SegmentState:
        """Advance one interval starting at ``now_ms`` under ``demand_vph`` (veh/h, shape
        ``(G,)``) and return the segments' conditions over it."""
        factor = np.where(self.incident_until_ms > now_ms, self.incident_factor, 1.0)
        capacity = self.capacity_vph * factor * (1.0 - self.holdback())
        available = self.queue + demand_vph * self.dt_h
        served = np.minimum(available, capacity * self.dt_h)
        self.queue = np.minimum(available - served, MAX_QUEUE_STORAGES * self.storage)
        flow = served / self.dt_h
        x = np.clip(flow / np.maximum(capacity, 1e-9), 0.0, 1.0)
        v_moving = self.free_flow * (1.0 - 0.5 * x**2.5)
        q_lane = flow / self.lanes
        density = np.minimum(K_JAM, q_lane / v_moving + self.queue / (self.length_km * self.lanes))
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = np.where(density > 0, np.minimum(v_moving, q_lane / density), v_moving)
        speed = np.maximum(speed, MIN_SPEED_KMH)
        occupancy = np.clip(density * L_EFF_KM, 0.0, 0.98)
        return SegmentState(flow, speed, occupancy, self.queue.copy())
