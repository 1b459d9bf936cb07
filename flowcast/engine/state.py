"""The streaming engine's state: thin Python holders around the Numba kernels.

:class:`RoadState` owns one partition's open road buckets, history ring and quality state;
:class:`SpotState` the same for scenic spots; :class:`Watermark` implements DESIGN.md's event-time
rule. Every method makes at most a couple of kernel calls per batch or per close; there is no
Python loop per reading. See ``docs/kernels.md`` for the layout and semantics.

Recommended order in the engine, per polled batch of one partition::

    wm.observe(int(batch.ts_ms.max()), now_ms)
    closed = state.close_until(wm.value)   # forecasts for closed.bucket_ids
    result = state.add(batch)              # result.status: AHEAD / INVALID -> dead letters

and when a partition is idle: ``if wm.advance_idle(now_ms, idle_ms): state.close_until(...)``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np

from flowcast.city import City, Csr
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from flowcast.kernels import spots as ks
from flowcast.kernels.quality_params import QualityParams, sensor_parameters
from flowcast.kernels.windows import SpotWindow, Window


class History:
    """Per-sensor history ring of closed road buckets (12 bytes per sensor-bucket)."""

    def __init__(self, n_sensors: int, n_buckets: int = 2304) -> None:
        self.arrays: tuple[np.ndarray, ...] = kh.new_history(n_sensors, n_buckets)
        self.n_sensors = n_sensors
        self.n_buckets = n_buckets

    @property
    def nbytes(self) -> int:
        """Bytes held by the ring's arrays."""
        return sum(a.nbytes for a in self.arrays)

    @property
    def bytes_per_sensor(self) -> float:
        """Bytes of history per sensor over the whole span."""
        return self.nbytes / max(self.n_sensors, 1)

    @property
    def col_bucket(self) -> np.ndarray:
        """The bucket id each column holds (int64, ``NO_BUCKET`` when none)."""
        return self.arrays[6]

    def window(self, end_bucket: int, length: int, sensors: np.ndarray | None = None) -> Window:
        """Buckets ``end_bucket - length .. end_bucket - 1`` (end exclusive) of ``sensors``
        (int32 indices, default all) as a :class:`Window` of ``(n, length)`` arrays."""
        idx = (np.arange(self.n_sensors, dtype=np.int32) if sensors is None
               else sensors)
        idx = _column(idx, np.int32)
        vals = np.empty((kh.N_VARS, len(idx), length), np.float32)
        flags = np.empty((len(idx), length), np.uint8)
        imp = np.empty_like(flags)
        count = np.empty_like(flags)
        kh.read_window(self.arrays, end_bucket, idx, vals, flags, imp, count, kq.NO_DATA)
        return Window(end_bucket - length, vals[kh.FLOW], vals[kh.OCC], vals[kh.SPEED],
                      flags, imp, count)

    def export(self) -> dict[str, np.ndarray]:
        """The ring as plain arrays, ``(H, N)`` each: ``flow``, ``occupancy``, ``speed``
        (float32, NaN = no value), ``speed_weight_code`` (uint16), ``count``,
        ``occupancy_count``, ``flags``, ``imputed`` (uint8), and ``col_bucket`` (H,)."""
        vals, sw, count, occ_n, flags, imp, col_bucket = self.arrays
        out: dict[str, np.ndarray] = {}
        for name, v, scale in _VARS:
            x = vals[v].astype(np.float32) / np.float32(scale)
            x[vals[v] == kh.Q_MISSING] = np.nan
            out[name] = x
        out.update(speed_weight_code=sw.copy(), count=count.copy(), occupancy_count=occ_n.copy(),
                   flags=flags.copy(), imputed=imp.copy(), col_bucket=col_bucket.copy())
        return out

    @classmethod
    def from_export(cls, data: dict[str, np.ndarray]) -> History:
        """A history rebuilt from :meth:`export`'s arrays (values are re-quantized)."""
        n_buckets, n_sensors = data["flow"].shape
        hist = cls(n_sensors, n_buckets)
        vals, sw, count, occ_n, flags, imp, col_bucket = hist.arrays
        for name, v, scale in _VARS:
            x = np.asarray(data[name], np.float64)
            q = np.clip(np.floor(x * scale + 0.5), 0, kh.Q_MAX)
            vals[v] = np.where(np.isnan(x), kh.Q_MISSING, np.nan_to_num(q)).astype(np.uint16)
        sw[:] = data["speed_weight_code"]
        count[:] = data["count"]
        occ_n[:] = data["occupancy_count"]
        flags[:] = data["flags"]
        imp[:] = data["imputed"]
        col_bucket[:] = data["col_bucket"]
        return hist


_VARS = (("flow", kh.FLOW, kh.FLOW_SCALE), ("occupancy", kh.OCC, kh.OCC_SCALE),
         ("speed", kh.SPEED, kh.SPEED_SCALE))


@dataclass
class AddResult:
    """What became of a batch: ``status`` int8 per reading (``buckets.ACCEPTED / CORRECTED /
    TOO_OLD / AHEAD / INVALID``) and the count of each."""

    status: np.ndarray
    accepted: int = 0
    corrected: int = 0
    too_old: int = 0
    ahead: int = 0
    invalid: int = 0


class _BucketSpan:
    """Shared by the closed-bucket records: their count and their end times."""

    bucket_ms: int
    bucket_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.bucket_ids)

    @property
    def end_ms(self) -> np.ndarray:
        """Epoch ms at which each bucket ends (its forecasts' issue time)."""
        return (self.bucket_ids + 1) * self.bucket_ms


@dataclass
class ClosedBuckets(_BucketSpan):
    """Buckets just closed, oldest first: ``bucket_ids`` (int64), and per bucket the number of
    sensors without data and of sensors with an imputed value."""

    bucket_ms: int
    bucket_ids: np.ndarray
    no_data: np.ndarray
    imputed: np.ndarray


def _empty_closed(bucket_ms: int) -> ClosedBuckets:
    empty = np.empty(0, np.int64)
    return ClosedBuckets(bucket_ms, empty, empty.copy(), empty.copy())


def _column(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as a contiguous read-only array of ``dtype`` (no copy when it already is
    one). Kernels then see one array type whether a decoder handed over a writeable array or a
    read-only Arrow buffer, and compile once."""
    out = np.ascontiguousarray(values, dtype).view()
    out.flags.writeable = False
    return out


def _to_local(index: np.ndarray, local_index: np.ndarray) -> np.ndarray:
    """Global indices mapped through ``local_index`` (int32; -1 where not held or out of
    range)."""
    n = len(local_index)
    inside = (index >= 0) & (index < n)
    return np.where(inside, local_index[np.clip(index, 0, n - 1)], -1).astype(np.int32)


def _start_bucket(ts_ms: np.ndarray, valid: np.ndarray, bucket_ms: int, n_open: int) -> int | None:
    """Where a state that has seen nothing starts: the batch's oldest bucket, or as far back as
    the open ring reaches from its newest one."""
    if not valid.any():
        return None
    b = ts_ms[valid] // bucket_ms
    return int(max(b.min(), b.max() - n_open + 1))


class RoadState:
    """Open road buckets, history ring and quality state of ``n_sensors`` sensors (one
    partition's, or a whole city's).

    ``neighbours`` is the sensor graph (a :class:`Csr`, local indices), used for spatial
    imputation; ``free_flow_kmh``, ``lanes``, ``capacity_vphpl`` and ``reporting_interval_s``
    are per-sensor (scalars broadcast). ``open_slots`` must exceed the allowed lateness in
    buckets by at least one.
    """

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
        self.sensors: np.ndarray | None = None
        self.local_index: np.ndarray | None = None

    @classmethod
    def for_city(
        cls, city: City, sensors: np.ndarray | None = None, **kwargs: object
    ) -> RoadState:
        """A state for ``sensors`` (global indices, default all) of ``city``, with lanes,
        capacity, free-flow speed and the neighbour graph (restricted to those sensors) taken
        from the registry. Use :meth:`localize` on batches with global sensor indices."""
        held = (np.arange(city.n_sensors, dtype=np.int32) if sensors is None
                else np.asarray(sensors, np.int32))
        local = np.full(city.n_sensors, -1, np.int32)
        local[held] = np.arange(len(held), dtype=np.int32)
        seg = city.sensor_segment[held]
        full = city.sensor_neighbours
        rows = np.repeat(np.arange(city.n_sensors), np.diff(full.indptr))
        keep = (local[rows] >= 0) & (local[full.indices] >= 0)
        graph = Csr.from_edges(len(held), local[rows[keep]], local[full.indices[keep]])
        state = cls(len(held), neighbours=graph, free_flow_kmh=city.segment_free_flow_kmh[seg],
                    lanes=city.segment_lanes[seg], capacity_vphpl=city.segment_capacity_vphpl[seg],
                    **kwargs)  # type: ignore[arg-type]
        state.sensors = held
        state.local_index = local
        return state

    def localize(self, batch: RoadBatch) -> RoadBatch:
        """``batch`` with global sensor indices mapped to this state's (-1 = not held here)."""
        if self.local_index is None:
            return batch
        return RoadBatch(_to_local(batch.sensor, self.local_index), batch.ts_ms, batch.flow,
                         batch.occupancy, batch.speed)

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
        sensor = _column(batch.sensor, np.int32)
        ts = _column(batch.ts_ms, np.int64)
        flow = _column(batch.flow, np.float32)
        occ = _column(batch.occupancy, np.float32)
        speed = _column(batch.speed, np.float32)
        status = np.empty(len(sensor), np.int8)
        if self.closed_upto is None:
            valid = (sensor >= 0) & (sensor < self.n_sensors)
            self.closed_upto = _start_bucket(ts, valid, self.bucket_ms, len(self.slot_bucket))
            if self.closed_upto is None:
                status[:] = kb.INVALID
                self.totals["invalid"] += len(sensor)
                return AddResult(status, invalid=len(sensor))
        accepted, late, ahead, invalid = kb.accumulate(
            sensor, ts, flow, occ, speed, self.bucket_ms, self.closed_upto, self.acc,
            self.slot_bucket, status)
        corrected = too_old = 0
        if late:
            corrected, too_old = kb.correct_late(
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
            return _empty_closed(self.bucket_ms)
        n = min(up_to_bucket - self.closed_upto, self.history.n_buckets)
        ids = np.empty(n, np.int64)
        no_data = np.empty(n, np.int64)
        imputed = np.empty(n, np.int64)
        k = kb.close_buckets(self.acc, self.slot_bucket, self.closed_upto, int(up_to_bucket),
                             self.history.arrays, self.sp, self.indptr, self.indices, self.qp,
                             self.qstate, ids, no_data, imputed)
        self.closed_upto = int(up_to_bucket)
        self.totals["closed"] += k
        return ClosedBuckets(self.bucket_ms, ids[:k], no_data[:k], imputed[:k])

    def close_until(self, watermark_ms: int | None) -> ClosedBuckets:
        """Close every bucket that ends at or before ``watermark_ms``."""
        if watermark_ms is None:
            return _empty_closed(self.bucket_ms)
        return self.close(int(watermark_ms) // self.bucket_ms)

    def window(self, end_bucket: int, length: int, sensors: np.ndarray | None = None) -> Window:
        """History buckets ``end_bucket - length .. end_bucket - 1``, end exclusive
        (see :meth:`History.window`)."""
        return self.history.window(end_bucket, length, sensors)


@dataclass
class ClosedSpotBuckets(_BucketSpan):
    """Spot buckets just closed, oldest first; per-bucket arrays are ``(B, K)``: ``arrivals``
    and ``exits`` (people through the gates), ``visitors`` inside at the bucket's end and their
    ``peak`` within it (float32), ``count`` readings, ``flags`` (``spots.SPOT_*``)."""

    bucket_ms: int
    bucket_ids: np.ndarray
    arrivals: np.ndarray
    exits: np.ndarray
    visitors: np.ndarray
    peak: np.ndarray
    count: np.ndarray
    flags: np.ndarray


class SpotState:
    """Open spot buckets (a pending buffer of readings), carried visitors and a history ring for
    ``n_spots`` spots opening ``opens_min`` minutes after local midnight, in a city
    ``utc_offset_min`` minutes ahead of UTC. Late readings (bucket closed) are counted and not
    applied."""

    def __init__(
        self,
        n_spots: int,
        bucket_s: int = 900,
        history_buckets: int = 768,
        open_slots: int = 4,
        *,
        opens_min: int | np.ndarray = 480,
        utc_offset_min: int = 480,
    ) -> None:
        if n_spots < 1 or bucket_s < 1 or open_slots < 1 or history_buckets < 1:
            raise ValueError("need n_spots, bucket_s, open_slots, history_buckets >= 1")
        self.n_spots = n_spots
        self.bucket_ms = bucket_s * 1000
        self.open_slots = open_slots
        self.opens_ms = np.array(np.broadcast_to(np.asarray(opens_min, np.int64) * 60_000,
                                                 (n_spots,)))
        self.utc_offset_ms = int(utc_offset_min) * 60_000
        self.pending = ks.new_pending(1024)
        self.n_pending = 0
        self.visitors = np.zeros(n_spots, np.float64)
        self.last_reset = np.full(n_spots, kh.NO_BUCKET, np.int64)
        self.history = ks.new_spot_history(n_spots, history_buckets)
        self.totals: dict[str, int] = dict.fromkeys(
            ("accepted", "late", "ahead", "invalid", "closed"), 0)
        self.closed_upto: int | None = None
        self.spots: np.ndarray | None = None
        self.local_index: np.ndarray | None = None

    @classmethod
    def for_city(cls, city: City, spots: np.ndarray | None = None, **kwargs: object) -> SpotState:
        """A state for ``spots`` (global indices, default all) of ``city`` with their opening
        times and the city's current UTC offset (fixed: Chinese cities have no DST)."""
        held = (np.arange(city.n_spots, dtype=np.int32) if spots is None
                else np.asarray(spots, np.int32))
        offset = _utc_offset_min(city)
        state = cls(len(held), opens_min=city.spot_opens_min[held].astype(np.int64),
                    utc_offset_min=offset, **kwargs)  # type: ignore[arg-type]
        local = np.full(city.n_spots, -1, np.int32)
        local[held] = np.arange(len(held), dtype=np.int32)
        state.spots = held
        state.local_index = local
        return state

    def localize(self, batch: SpotBatch) -> SpotBatch:
        """``batch`` with global spot indices mapped to this state's (-1 = not held here)."""
        if self.local_index is None:
            return batch
        spot = _to_local(batch.spot, self.local_index)
        return SpotBatch(spot, batch.ts_ms, batch.entries, batch.exits, batch.count)

    def start(self, bucket: int) -> None:
        """Begin with ``bucket`` as the oldest open bucket (once, before any data)."""
        if self.closed_upto is not None:
            raise RuntimeError("the state has started already")
        self.closed_upto = int(bucket)
        self._mark_resets_before(self.closed_upto)

    def _mark_resets_before(self, bucket: int) -> None:
        # openings before the first bucket are history: visitors start at 0 without a reset
        t = bucket * self.bucket_ms - 1 + self.utc_offset_ms - self.opens_ms
        self.last_reset[:] = (t // ks.DAY_MS) * ks.DAY_MS + self.opens_ms - self.utc_offset_ms

    def _reserve(self, extra: int) -> None:
        need = self.n_pending + extra
        capacity = len(self.pending[0])
        if need <= capacity:
            return
        grown = ks.new_pending(max(need, 2 * capacity))
        for new, old in zip(grown, self.pending, strict=True):
            new[: self.n_pending] = old[: self.n_pending]
        self.pending = grown

    def add(self, batch: SpotBatch) -> AddResult:
        """Accept a batch into the open window (pending until its bucket closes); LATE readings
        are counted in ``too_old`` and dropped."""
        spot = _column(batch.spot, np.int32)
        ts = _column(batch.ts_ms, np.int64)
        status = np.empty(len(spot), np.int8)
        if self.closed_upto is None:
            valid = (spot >= 0) & (spot < self.n_spots)
            self.closed_upto = _start_bucket(ts, valid, self.bucket_ms, self.open_slots)
            if self.closed_upto is None:
                status[:] = kb.INVALID
                self.totals["invalid"] += len(spot)
                return AddResult(status, invalid=len(spot))
            self._mark_resets_before(self.closed_upto)
        self._reserve(len(spot))
        self.n_pending, accepted, late, ahead, invalid = ks.spot_accept(
            spot, ts, _column(batch.entries, np.float32), _column(batch.exits, np.float32),
            _column(batch.count, np.float32), self.bucket_ms, self.closed_upto,
            self.open_slots, self.n_spots, self.pending, self.n_pending, status)
        status[status == kb.LATE] = kb.TOO_OLD
        for key, n in (("accepted", accepted), ("late", late), ("ahead", ahead),
                       ("invalid", invalid)):
            self.totals[key] += n
        return AddResult(status, accepted=accepted, too_old=late, ahead=ahead, invalid=invalid)

    def close(self, up_to_bucket: int) -> ClosedSpotBuckets:
        """Close every spot bucket with id < ``up_to_bucket`` for all spots."""
        if self.closed_upto is None or up_to_bucket <= self.closed_upto:
            return self._closed(np.empty(0, np.int64))
        n_cols = self.history[6].shape[0]
        ids = np.empty(min(up_to_bucket - self.closed_upto, n_cols), np.int64)
        k, self.n_pending = ks.spot_close(
            self.closed_upto, int(up_to_bucket), self.bucket_ms, self.opens_ms,
            self.utc_offset_ms, self.pending, self.n_pending, self.visitors, self.last_reset,
            self.history, ids)
        self.closed_upto = int(up_to_bucket)
        self.totals["closed"] += k
        return self._closed(ids[:k])

    def close_until(self, watermark_ms: int | None) -> ClosedSpotBuckets:
        """Close every spot bucket that ends at or before ``watermark_ms``."""
        if watermark_ms is None:
            return self._closed(np.empty(0, np.int64))
        return self.close(int(watermark_ms) // self.bucket_ms)

    def _closed(self, ids: np.ndarray) -> ClosedSpotBuckets:
        cols = ids % self.history[6].shape[0]
        arrivals, exits, visitors, peak, count, flags, _ = self.history
        return ClosedSpotBuckets(self.bucket_ms, ids, arrivals[cols], exits[cols], visitors[cols],
                                 peak[cols], count[cols], flags[cols])

    def window(self, end_bucket: int, length: int) -> SpotWindow:
        """Spot history buckets ``end_bucket - length .. end_bucket - 1`` (end exclusive)."""
        vals = np.empty((4, self.n_spots, length), np.float32)
        count = np.empty((self.n_spots, length), np.uint16)
        flags = np.empty((self.n_spots, length), np.uint8)
        ks.spot_read_window(self.history, end_bucket, vals, count, flags)
        return SpotWindow(end_bucket - length, vals[0], vals[1], vals[2], vals[3], count, flags)


def _utc_offset_min(city: City) -> int:
    offset = dt.datetime.now(city.zone).utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds() // 60)


@dataclass
class Watermark:
    """One partition's event-time watermark (DESIGN.md "Time").

    ``value`` = newest event time seen - ``allowed_lateness_ms``, never decreasing; ``None``
    before any event. When no event has arrived for ``idle_timeout`` of wall-clock time, the
    event time is taken to run on with the wall clock from the newest event, so a silent
    partition still gets its buckets closed (and a replay running behind real time is not
    pushed ahead of its own data).
    """

    allowed_lateness_ms: int
    value: int | None = None
    newest_event_ms: int | None = None
    last_arrival_ms: int | None = field(default=None)

    def observe(self, max_ts_ms: int, now_ms: int | None = None) -> int | None:
        """Events up to ``max_ts_ms`` (epoch ms) arrived at wall-clock ``now_ms`` (default:
        the clock); returns the watermark."""
        now = _now_ms() if now_ms is None else int(now_ms)
        newest = int(max_ts_ms)
        if self.newest_event_ms is None or newest > self.newest_event_ms:
            self.newest_event_ms = newest
        self.last_arrival_ms = now
        self._raise_to(self.newest_event_ms - self.allowed_lateness_ms)
        return self.value

    def advance_idle(self, now_ms: int, idle_timeout_ms: int) -> bool:
        """Advance with the wall clock when nothing arrived for ``idle_timeout_ms``; True when
        the watermark moved."""
        if self.newest_event_ms is None or self.last_arrival_ms is None:
            return False
        silent = int(now_ms) - self.last_arrival_ms
        if silent < idle_timeout_ms:
            return False
        before = self.value
        self._raise_to(self.newest_event_ms + silent - self.allowed_lateness_ms)
        return self.value != before

    def _raise_to(self, candidate: int) -> None:
        if self.value is None or candidate > self.value:
            self.value = candidate


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
