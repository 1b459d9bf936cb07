"""One partition's road state: open buckets, the history ring and the quality state, in thin
Python around the Numba kernels.

Every method makes at most a couple of kernel calls per batch or per close; there is no Python
loop per reading. See ``docs/kernels.md`` for the layout and semantics, and
:mod:`flowcast.engine.watermark` for the order of calls per polled batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowcast.city import City, Csr
from flowcast.engine.bucket_state import AddResult, BucketSpan, kernel_column, start_bucket
from flowcast.engine.local_index import LocalIndex, LocalizedState
from flowcast.engine.road_history import History
from flowcast.ingest.readings import RoadBatch
from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels.bucket_close import close_buckets
from flowcast.kernels.buckets import correct_late
from flowcast.kernels.quality_params import QualityParams, sensor_parameters
from flowcast.kernels.windows import Window


@dataclass
class ClosedBuckets(BucketSpan):
    """Buckets just closed, oldest first: ``bucket_ids`` (int64), and per bucket the number of
    sensors without data and of sensors with an imputed value."""

    bucket_ms: int
    bucket_ids: np.ndarray
    no_data: np.ndarray
    imputed: np.ndarray

    @classmethod
    def none(cls, bucket_ms: int) -> ClosedBuckets:
        """No bucket closed."""
        empty = np.empty(0, np.int64)
        return cls(bucket_ms, empty, empty.copy(), empty.copy())


class RoadState(LocalizedState):
    """Open road buckets, history ring and quality state of ``n_sensors`` sensors (one
    partition's, or a whole city's).

    ``neighbours`` is the sensor graph (a :class:`Csr`, local indices), used for spatial
    imputation; ``free_flow_kmh``, ``lanes``, ``capacity_vphpl`` and ``reporting_interval_s``
    are per-sensor (scalars broadcast). ``open_slots`` must exceed the allowed lateness in
    buckets by at least one.
    """

    id_column = "sensor"

    def __init__(
        self,
        n_sensors: int,
        bucket_s: int = 300,
        history_buckets: int = 2304,
        open_slots: int = 4,
        *,
        neighbours: Csr | None = None,
        free_flow_kmh: float | np.ndarray | None = None,
        lanes: float | np.ndarray | None = None,
        capacity_vphpl: float | np.ndarray | None = None,
        reporting_interval_s: float | np.ndarray | None = None,
        quality: QualityParams | None = None,
    ) -> None:
        if n_sensors < 1 or bucket_s < 1 or open_slots < 1 or history_buckets < open_slots:
            raise ValueError("need n_sensors, bucket_s, open_slots >= 1 and "
                             "history_buckets >= open_slots")
        self.n_sensors = n_sensors
        self.bucket_s = bucket_s
        self.bucket_ms = bucket_s * 1000
        self.quality = quality or QualityParams()
        self.qp = self.quality.to_array(bucket_s)
        self.sp = sensor_parameters(n_sensors, bucket_s, self.quality,
                                    reporting_interval_s=reporting_interval_s, lanes=lanes,
                                    capacity_vphpl=capacity_vphpl, free_flow_kmh=free_flow_kmh)
        graph = (neighbours if neighbours is not None
                 else Csr(np.zeros(n_sensors + 1, np.int64), np.empty(0, np.int32)))
        if graph.n_rows != n_sensors:
            raise ValueError(f"neighbours has {graph.n_rows} rows, expected {n_sensors}")
        self.indptr = np.array(graph.indptr, np.int64)
        self.indices = np.array(graph.indices, np.int32)
        self.acc, self.slot_bucket = kb.new_accumulators(open_slots, n_sensors)
        self.history = History(n_sensors, history_buckets)
        self.last_raw = np.full((n_sensors, kh.N_VARS), np.nan, np.float32)
        self.stuck_run = np.zeros(n_sensors, np.int32)
        self.recent = np.full((n_sensors, kh.N_VARS), np.nan, np.float32)
        self.imputed_share = np.zeros(n_sensors, np.float32)
        self.corrections = np.zeros(n_sensors, np.int64)
        self.totals: dict[str, int] = dict.fromkeys(
            ("accepted", "corrected", "too_old", "ahead", "invalid", "closed"), 0)
        self.closed_upto: int | None = None

    @classmethod
    def for_city(
        cls, city: City, sensors: np.ndarray | None = None, **kwargs: object
    ) -> RoadState:
        """A state for ``sensors`` (global indices, default all) of ``city``, with lanes,
        capacity, free-flow speed and the neighbour graph (restricted to those sensors) taken
        from the registry. Use :meth:`localize` on batches with global sensor indices."""
        index = LocalIndex.of(city.n_sensors, sensors)
        seg = city.sensor_segment[index.held]
        graph = city.sensor_neighbours.relabel(index.local, len(index))
        state = cls(len(index), neighbours=graph, free_flow_kmh=city.segment_free_flow_kmh[seg],
                    lanes=city.segment_lanes[seg], capacity_vphpl=city.segment_capacity_vphpl[seg],
                    **kwargs)  # type: ignore[arg-type]
        state.index = index
        return state

    @property
    def sensors(self) -> np.ndarray | None:
        """The city's index of each sensor held (int32, local order); None without a city."""
        return None if self.index is None else self.index.held

    @property
    def ring_buckets(self) -> int:
        """How many closed buckets the history ring holds."""
        return int(self.history.n_buckets)

    def bucket_of(self, ts_ms: int | np.ndarray) -> int | np.ndarray:
        """Bucket id of an epoch-ms time: ``floor(ts_ms / bucket_ms)``."""
        return np.floor_divide(ts_ms, self.bucket_ms)

    def start(self, bucket: int) -> None:
        """Begin with ``bucket`` as the oldest open bucket (once, before any data)."""
        if self.closed_upto is not None:
            raise RuntimeError("the state has started already")
        self.closed_upto = int(bucket)

    @property
    def qstate(self) -> tuple[np.ndarray, ...]:
        """The per-sensor quality state the close kernel updates."""
        return (self.last_raw, self.stuck_run, self.recent, self.imputed_share)

    def add(self, batch: RoadBatch) -> AddResult:
        """Accumulate a batch into the open buckets; readings of closed buckets correct the
        history (or are TOO_OLD); AHEAD and INVALID ones are left to the caller. A state that
        has not started starts at the batch's oldest bucket (within the open ring's reach)."""
        sensor = kernel_column(batch.sensor, np.int32)
        ts = kernel_column(batch.ts_ms, np.int64)
        flow = kernel_column(batch.flow, np.float32)
        occ = kernel_column(batch.occupancy, np.float32)
        speed = kernel_column(batch.speed, np.float32)
        status = np.empty(len(sensor), np.int8)
        if self.closed_upto is None:
            valid = (sensor >= 0) & (sensor < self.n_sensors)
            self.closed_upto = start_bucket(ts, valid, self.bucket_ms, len(self.slot_bucket))
            if self.closed_upto is None:
                status[:] = kb.INVALID
                self.totals["invalid"] += len(sensor)
                return AddResult(status, invalid=len(sensor))
        accepted, late, ahead, invalid = kb.accumulate(
            sensor, ts, flow, occ, speed, self.bucket_ms, self.closed_upto, self.acc,
            self.slot_bucket, status)
        corrected = too_old = 0
        if late:
            corrected, too_old = correct_late(
                sensor, ts, flow, occ, speed, status, self.bucket_ms, self.history.arrays,
                self.sp, self.indptr, self.indices, self.qp, self.recent, self.corrections)
        result = AddResult(status, accepted, corrected, too_old, ahead, invalid)
        for key in ("accepted", "corrected", "too_old", "ahead", "invalid"):
            self.totals[key] += getattr(result, key)
        return result

    def close(self, up_to_bucket: int) -> ClosedBuckets:
        """Close every open bucket with id < ``up_to_bucket`` (empty ones too) into the history
        with quality flags and imputation; returns the ids written (at most H)."""
        if self.closed_upto is None or up_to_bucket <= self.closed_upto:
            return ClosedBuckets.none(self.bucket_ms)
        n = min(up_to_bucket - self.closed_upto, self.history.n_buckets)
        ids = np.empty(n, np.int64)
        no_data = np.empty(n, np.int64)
        imputed = np.empty(n, np.int64)
        k = close_buckets(self.acc, self.slot_bucket, self.closed_upto, int(up_to_bucket),
                          self.history.arrays, self.sp, self.indptr, self.indices, self.qp,
                          self.qstate, ids, no_data, imputed)
        self.closed_upto = int(up_to_bucket)
        self.totals["closed"] += k
        return ClosedBuckets(self.bucket_ms, ids[:k], no_data[:k], imputed[:k])

    def close_until(self, watermark_ms: int | None) -> ClosedBuckets:
        """Close every bucket that ends at or before ``watermark_ms``."""
        if watermark_ms is None:
            return ClosedBuckets.none(self.bucket_ms)
        return self.close(int(watermark_ms) // self.bucket_ms)

    def window(self, end_bucket: int, length: int, sensors: np.ndarray | None = None) -> Window:
        """History buckets ``end_bucket - length .. end_bucket - 1``, end exclusive
        (see :meth:`History.window`)."""
        return self.history.window(end_bucket, length, sensors)
