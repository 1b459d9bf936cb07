"""The :class:`Simulator`: a city's detectors and gates, one reporting interval at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np

from flowcast.city import City
from flowcast.errors import FlowcastUserError
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.simulator.config import SimulatorConfig
from flowcast.ingest.simulator.demand import day_context
from flowcast.ingest.simulator.faults import DetectorFaults
from flowcast.ingest.simulator.noise import (
    DETECTORS,
    FAULTS,
    INCIDENTS,
    SPOT_ARRIVALS,
    STATIC,
    rng_for,
)
from flowcast.ingest.simulator.roaddemand import RoadDemand
from flowcast.ingest.simulator.roads import RoadModel, SegmentState
from flowcast.ingest.simulator.spots import SpotModel, SpotTruth

DAY_MS = 86_400_000


def to_epoch_ms(when: dt.datetime, zone: dt.tzinfo) -> int:
    """Epoch milliseconds of ``when``; a naive datetime is read as local time in ``zone``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return round(when.timestamp() * 1000)


class Simulator:
    """Road detectors and scenic-spot gates of ``city`` from ``start`` on.

    ``start`` is tz-aware (naive = the city's local time) and must fall on a whole gate
    interval (``config.spot_interval_s``, default 5 min). Each :meth:`step` simulates one road
    reporting interval; the same city, seed, start and config always give the same readings,
    however the run is sliced.
    """

    def __init__(self, city: City, start: dt.datetime, seed: int = 0,
                 config: SimulatorConfig | None = None) -> None:
        self.city = city
        self.config = config if config is not None else SimulatorConfig()
        if seed < 0:
            raise FlowcastUserError(f"the seed must be a non-negative integer, got {seed}")
        self.seed = int(seed)
        self._zone = city.zone
        self._dt_ms = self.config.report_interval_s * 1000
        self._spot_ms = self.config.spot_interval_s * 1000
        self.start_ms = to_epoch_ms(start, self._zone)
        if self.start_ms % self._spot_ms:
            raise FlowcastUserError(
                f"start {start.isoformat()} must fall on a whole {self._spot_ms // 60_000}-minute "
                "boundary (e.g. 08:00 or 08:05)")
        self._now_ms = self.start_ms
        self._roads = RoadModel(city, self.config.report_interval_s)
        self._spots = SpotModel(city, self.config.spot_interval_s, self.seed,
                                self.config.tourism_scale)
        self._demand = RoadDemand(city, self._spots, self.seed, self.config.demand_scale)
        static = rng_for(self.seed, STATIC, 3)
        self._gain = np.exp(static.normal(0.0, 0.03, city.n_sensors))
        self._speed_bias = np.exp(static.normal(0.0, 0.02, city.n_sensors))
        self._faults = DetectorFaults(city.n_sensors, self.config.faults,
                                      self.config.report_interval_s,
                                      rng_for(self.seed, FAULTS, self.start_ms // self._dt_ms))
        self._pending: list[tuple[int, int, int, float]] = []  # segment, from, until, factor
        self.last_segments: SegmentState | None = None
        self.spot_truth = self._warm_up_spots()

    # ----- clock -------------------------------------------------------------------------
    @property
    def report_interval_s(self) -> int:
        """Road detector reporting interval, seconds."""
        return self.config.report_interval_s

    @property
    def spot_interval_s(self) -> int:
        """Scenic-spot gate reporting interval, seconds."""
        return self.config.spot_interval_s

    @property
    def now_ms(self) -> int:
        """End of the last simulated interval, epoch milliseconds UTC."""
        return self._now_ms

    @property
    def now(self) -> dt.datetime:
        """End of the last simulated interval, as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self._now_ms / 1000, dt.UTC)

    @property
    def active_incidents(self) -> np.ndarray:
        """Dense indices (int64) of the segments with an incident at :attr:`now`."""
        return np.flatnonzero(self._roads.incident_until_ms > self._now_ms)

    def _local(self, t_ms: int) -> tuple[dt.date, int]:
        local = dt.datetime.fromtimestamp(t_ms / 1000, self._zone)
        return local.date(), local.hour * 60 + local.minute

    # ----- public stepping ---------------------------------------------------------------
    def step(self) -> tuple[int, RoadBatch, SpotBatch]:
        """Simulate one road reporting interval: ``(end ts_ms, road readings, spot readings)``.
        The spot batch is empty unless a gate interval or a head count ends with it."""
        t0 = self._now_ms
        t1 = t0 + self._dt_ms
        date, minute = self._local(t0)
        self._start_incidents(t0)
        demand = self._demand.at(day_context(date), minute, t0)
        state = self._roads.step(demand, t0)
        self.last_segments = state
        road = self._read_detectors(state, t0, t1)
        spot = self._spot_step(t1) if t1 % self._spot_ms == 0 else SpotBatch.empty()
        self._now_ms = t1
        return t1, road, spot

    def batches(self, until: dt.datetime | None = None) -> Iterator[tuple[int, RoadBatch,
                                                                          SpotBatch]]:
        """Step until the clock reaches ``until`` (every interval ending at or before it);
        forever when ``until`` is None."""
        until_ms = None if until is None else to_epoch_ms(until, self._zone)
        while until_ms is None or self._now_ms + self._dt_ms <= until_ms:
            yield self.step()

    def step_until(self, t_end: dt.datetime) -> tuple[RoadBatch, SpotBatch]:
        """All readings up to ``t_end``, concatenated into one road and one spot batch."""
        roads: list[RoadBatch] = [RoadBatch.empty()]
        spots: list[SpotBatch] = [SpotBatch.empty()]
        for _, road, spot in self.batches(t_end):
            roads.append(road)
            spots.append(spot)
        return _concat_roads(roads), _concat_spots(spots)

    def add_incident(self, segment: int, at: dt.datetime, minutes: float,
                     capacity_factor: float = 0.3) -> None:
        """Schedule an incident on ``segment`` (dense index) from ``at`` for ``minutes``,
        leaving ``capacity_factor`` (0..1) of its capacity."""
        if not 0 <= segment < self.city.n_segments:
            raise FlowcastUserError(f"segment index {segment} is not in this city "
                                    f"(0..{self.city.n_segments - 1})")
        if minutes <= 0 or not 0.0 <= capacity_factor <= 1.0:
            raise FlowcastUserError("an incident needs minutes > 0 and a capacity factor in 0..1")
        begin = to_epoch_ms(at, self._zone)
        self._pending.append((segment, begin, begin + round(minutes * 60_000), capacity_factor))

    # ----- internals ---------------------------------------------------------------------
    def _start_incidents(self, t0: int) -> None:
        step = t0 // self._dt_ms
        rate = self.config.incidents_per_segment_day * self._dt_ms / DAY_MS
        rng = rng_for(self.seed, INCIDENTS, step)
        count = rng.poisson(rate * self.city.n_segments) if self.city.n_segments else 0
        if count:
            lo, hi = self.config.incident_minutes
            cut_lo, cut_hi = self.config.incident_capacity
            where = rng.integers(0, self.city.n_segments, count)
            self._roads.start_incidents(where, t0, rng.uniform(lo, hi, count),
                                        rng.uniform(cut_lo, cut_hi, count))
        due = [p for p in self._pending if p[1] <= t0]
        self._pending = [p for p in self._pending if p[1] > t0]
        for segment, _, until, factor in due:
            if until > t0:
                self._roads.start_incidents(np.array([segment]), t0,
                                            np.array([(until - t0) / 60_000]), np.array([factor]))

    def _read_detectors(self, state: SegmentState, t0: int, t1: int) -> RoadBatch:
        rng = rng_for(self.seed, DETECTORS, t0 // self._dt_ms)
        seg = self.city.sensor_segment
        dt_h = self._dt_ms / 3_600_000
        flow = rng.poisson(state.flow_vph[seg] * dt_h * self._gain).astype(np.float64)
        noise = rng.standard_normal((2, len(seg)))
        speed = state.speed_kmh[seg] * self._speed_bias * np.exp(0.03 * noise[0])
        speed = np.where(flow > 0, speed, np.nan)  # no vehicle, no speed measured
        occupancy = np.clip(state.occupancy[seg] * np.exp(0.05 * noise[1]), 0.0, 1.0)
        read = self._faults.apply(flow, occupancy, speed,
                                  rng_for(self.seed, FAULTS, t0 // self._dt_ms))
        keep = np.flatnonzero(read.present)
        return RoadBatch(sensor=keep.astype(np.int32), ts_ms=np.full(len(keep), t1, np.int64),
                         flow=read.flow[keep].astype(np.float32),
                         occupancy=read.occupancy[keep].astype(np.float32),
                         speed=read.speed[keep].astype(np.float32))

    def _spot_step(self, t1: int) -> SpotBatch:
        date, minute = self._local(t1 - self._spot_ms)
        slot = int(minute * 60_000 // self._spot_ms)
        rng = rng_for(self.seed, SPOT_ARRIVALS, t1 // self._spot_ms)
        truth = self._spots.step(date, slot, t1, rng)
        self.spot_truth = truth
        k = self.city.n_spots
        gates = np.flatnonzero(rng.random(k) >= self.config.faults.gate_dropout)
        nan = np.full(len(gates), np.nan, np.float32)
        batch = SpotBatch(gates.astype(np.int32), np.full(len(gates), t1, np.int64),
                          truth.arrivals[gates].astype(np.float32),
                          truth.exits[gates].astype(np.float32), nan)
        every = self.config.headcount_interval_s * 1000
        if every and t1 % every == 0:
            batch = _concat_spots([batch, self._head_counts(t1, truth, rng)])
        return batch

    def _head_counts(self, t1: int, truth: SpotTruth, rng: np.random.Generator) -> SpotBatch:
        """Head counts of people inside the spots open at ``t1`` (2 % counting noise)."""
        _, minute = self._local(t1)
        minute = minute or 1440  # a count at midnight closes the previous day
        open_ = np.flatnonzero((self.city.spot_opens_min < minute)
                               & (minute <= self.city.spot_closes_min))
        count = np.round(truth.inside[open_] * np.exp(0.02 * rng.standard_normal(len(open_))))
        nan = np.full(len(open_), np.nan, np.float32)
        return SpotBatch(open_.astype(np.int32), np.full(len(open_), t1, np.int64), nan, nan,
                         count.astype(np.float32))

    def _warm_up_spots(self) -> SpotTruth:
        """Replay today's gate intervals before ``start`` silently, so a run that starts in
        the middle of the day finds visitors already inside."""
        date, minute = self._local(self.start_ms)
        midnight = self.start_ms - minute * 60_000
        truth = SpotTruth(self.start_ms, np.zeros(self.city.n_spots),
                          np.zeros(self.city.n_spots), np.zeros(self.city.n_spots))
        for t1 in range(midnight + self._spot_ms, self.start_ms + 1, self._spot_ms):
            slot = int((t1 - self._spot_ms - midnight) // self._spot_ms)
            truth = self._spots.step(date, slot, t1,
                                     rng_for(self.seed, SPOT_ARRIVALS, t1 // self._spot_ms))
        return truth


def _concat_roads(parts: list[RoadBatch]) -> RoadBatch:
    return RoadBatch(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("sensor", "ts_ms", "flow", "occupancy", "speed")))


def _concat_spots(parts: list[SpotBatch]) -> SpotBatch:
    return SpotBatch(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("spot", "ts_ms", "entries", "exits", "count")))
