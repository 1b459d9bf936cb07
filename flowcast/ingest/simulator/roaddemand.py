"""Road demand of every segment at a moment: commuters, leisure and tourist traffic.

``demand_g(t) = capacity_g x base_ratio(class_g) x scale_g x demand_scale x profile(kind,
class_g, minute) x hourly_g(t) x daily_g(t) x leisure_g(kind) x surge(class_g, day)
+ tourists_g(t)`` in vehicles per hour, where ``scale_g`` is a per-segment log-normal factor
(sigma 0.22) that makes some roads habitually congested, ``hourly``/``daily`` are smooth
log-normal noises (sigma 0.08 / 0.06), ``leisure`` lifts roads near scenic spots on weekends
(+25 % at a spot) and holidays (+40 %), ``surge`` is the expressway surge on the first and last
day of a holiday, and ``tourists`` spreads each spot's expected visitors per hour (entering
plus leaving, 0.35 vehicles per visitor) over the roads within 3 km, in proportion to their
capacity and closeness (``exp(-d / 0.8 km)``), as if over three full approach roads, at most
half of it on any one segment.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from flowcast.city import City
from flowcast.ingest.simulator.demand import (
    BASE_RATIO,
    HOLI,
    REST,
    DayContext,
    expressway_surge,
    road_profile_table,
)
from flowcast.ingest.simulator.network import M_PER_DEG_LAT, M_PER_DEG_LON
from flowcast.ingest.simulator.noise import ROAD_DAILY, ROAD_HOURLY, STATIC, SmoothNoise, rng_for
from flowcast.ingest.simulator.spots import SpotModel

SCALE_SIGMA = 0.22
LEISURE = {REST: 0.25, HOLI: 0.40}
VEHICLES_PER_VISITOR = 0.35
TOURIST_RADIUS_KM = 3.0
TOURIST_APPROACHES = 3.0
"""Each spot's tourist traffic is spread as if over this many full approach roads."""
MAX_TOURIST_SHARE = 0.5
"""No single segment carries more than this share of a spot's tourist traffic."""


class RoadDemand:
    """Demand (veh/h) of every segment of ``city``, deterministic in ``seed``."""

    def __init__(self, city: City, spots: SpotModel, seed: int, demand_scale: float) -> None:
        self.spots = spots
        self.seg_class = city.segment_class.astype(np.int64)
        self.is_expressway = self.seg_class == 0
        scale = np.exp(rng_for(seed, STATIC, 1).normal(0.0, SCALE_SIGMA, city.n_segments))
        ratio = np.array(list(BASE_RATIO.values()))[self.seg_class]
        self.base = (city.segment_capacity_vphpl * city.segment_lanes * ratio * scale
                     * demand_scale)
        self.hourly = SmoothNoise(seed, ROAD_HOURLY, city.n_segments, 3600, 0.08)
        self.daily = SmoothNoise(seed, ROAD_DAILY, city.n_segments, 86_400, 0.06)
        self.table = road_profile_table()
        self.proximity, self.t_seg, self.t_spot, self.t_weight = _spot_links(city)

    def at(self, ctx: DayContext, minute: int, t_ms: int) -> np.ndarray:
        """Demand in vehicles per hour at epoch ms ``t_ms`` (local ``minute`` of the day
        described by ``ctx``), float64 shape ``(G,)``."""
        profile = self.table[ctx.kind][:, minute][self.seg_class]
        demand = self.base * profile * self.hourly.at(t_ms) * self.daily.at(t_ms)
        if ctx.kind in LEISURE:
            demand *= 1.0 + LEISURE[ctx.kind] * self.proximity
        surge = expressway_surge(ctx, minute)
        if surge != 1.0:
            demand[self.is_expressway] *= surge
        return demand + self.tourists(ctx.date, minute)

    def tourists(self, date: dt.date, minute: int) -> np.ndarray:
        """Tourist vehicles per hour on each segment, float64 ``(G,)``."""
        if not len(self.t_seg):
            return np.zeros(len(self.base))
        rate = self.spots.expected_rate_vph(date, minute) * VEHICLES_PER_VISITOR
        return np.bincount(self.t_seg, weights=self.t_weight * rate[self.t_spot],
                           minlength=len(self.base))


def _spot_links(city: City) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-segment proximity to the nearest spot (0..1) and the sparse segment-spot tourist
    weights ``(segment, spot, weight)``; each spot's weights sum to at most
    ``TOURIST_APPROACHES``, none above ``MAX_TOURIST_SHARE``."""
    g = city.n_segments
    proximity = np.zeros(g)
    segs: list[np.ndarray] = []
    spots: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    if g == 0:
        return proximity, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    ends = np.array([line[0] + line[-1] for line in city.segment_geometry], dtype=np.float64)
    mid = 0.5 * (ends[:, :2] + ends[:, 2:])
    pull = city.segment_capacity_vphpl * city.segment_lanes  # big roads carry the tourists
    for k in range(city.n_spots):
        d = np.hypot((mid[:, 0] - city.spot_lonlat[k, 0]) * M_PER_DEG_LON,
                     (mid[:, 1] - city.spot_lonlat[k, 1]) * M_PER_DEG_LAT) / 1000.0
        proximity = np.maximum(proximity, np.exp(-d / 2.0))
        near = np.flatnonzero(d < TOURIST_RADIUS_KM)
        w = np.exp(-d[near] / 0.8) * pull[near]
        if w.sum() > 0:
            segs.append(near)
            spots.append(np.full(len(near), k))
            weights.append(np.minimum(w * TOURIST_APPROACHES / w.sum(), MAX_TOURIST_SHARE))
    if not segs:
        return proximity, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    return proximity, np.concatenate(segs), np.concatenate(spots), np.concatenate(weights)
