"""The history a model reads, built offline exactly as the live engine builds it.

The engine closes every bucket through the data-quality kernels (flags: no data, stuck, zero
flow with occupancy, ... then imputation temporal -> spatial -> fallback) before the feature
kernel reads its history ring. :func:`cleaned_history` runs a dataset's buckets through the
**same kernels** (:func:`flowcast.kernels.buckets.accumulate` and
:func:`~flowcast.kernels.bucket_close.close_buckets`, with the same ``qp`` / ``sp`` parameters as
:class:`flowcast.engine.road_state.RoadState`, from :mod:`flowcast.kernels.quality_params`),
so training and backtests read the values, flags and imputation codes the engine's ring would
hold after ingesting the same data (``tests/models/roads/test_quality_history.py`` proves it
value for value).

How the dataset is fed, as ``flowcast replay`` streams it (``docs/replay.md``): each bucket is
one reading per sensor (a bucket aggregate: one reading expected per bucket, so the few-samples
rule never fires), NaN fields are nulls, a sensor with no value sends nothing, and a reading the
wire contract refuses (a value out of :data:`READING_RANGES`) is not data. Buckets are closed in
chunks into a small ring that reaches a day back (the temporal rule reads the same bucket
yesterday); a column is copied out once no later close can revise it (linear refills reach
``max_gap_buckets`` back).

The engine splits a city into partitions and restricts the neighbour graph to each; here the
whole graph is one state (as ``flowcast run`` with one partition).
"""

from __future__ import annotations

import numpy as np

from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from flowcast.kernels.bucket_close import close_buckets
from flowcast.kernels.quality_params import (
    DEFAULT_FREE_FLOW_KMH,
    DEFAULT_LANES,
    QualityParams,
    sensor_parameters,
)
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import STATIC_NAMES, VAR_CODE, VARIABLES

READING_RANGES: dict[str, tuple[float, float]] = {
    "flow": (0.0, np.inf), "occupancy": (0.0, 1.0), "speed": (0.0, 250.0)}
"""Valid range (inclusive) of each road reading field, as the wire contract checks it
(``flowcast.ingest.wire.schema.ROAD``; a test keeps the two equal): a reading with a value
outside, or infinite, is refused as a whole."""

CELLS_PER_CHUNK = 2_000_000
"""Sensor-buckets accumulated per kernel call (64 bytes each in the open-bucket state)."""
_MAX_CHUNK = 512
_SCALES = {"flow": kh.FLOW_SCALE, "occupancy": kh.OCC_SCALE, "speed": kh.SPEED_SCALE}


def cleaned_history(raw: FeatureHistory, *, quality: QualityParams | None = None,
                    capacity_vphpl: float | np.ndarray | None = None,
                    chunk_buckets: int | None = None) -> FeatureHistory:
    """``raw`` (a dataset's history: NaN = no data, e.g. ``FeatureHistory.from_dataset``) run
    through the engine's quality flags and imputation, bucket by bucket in time order.

    Returns a history with every variable of :data:`VARIABLES` (imputed where the engine
    imputes; quantized as the ring stores them: 1/8 vehicle, 2e-5 occupancy, 0.01 km/h), the
    engine's ``flags`` and packed ``imputed`` codes, the same buckets, static table and graph,
    and ``measured`` = ``raw``'s values (the measurements, which targets read; all NaN for a
    variable ``raw`` lacks).

    ``quality``: the engine's rules (default ``QualityParams()``; its reporting interval is
    ignored: a dataset bucket is one reading). Lanes and free-flow speed come from ``raw``'s
    static table (NaN: the engine's defaults); ``capacity_vphpl`` per sensor (vehicles per hour
    per lane, e.g. from the city registry; default the engine's). ``chunk_buckets`` is how many
    buckets one kernel call accumulates (default: about :data:`CELLS_PER_CHUNK` cells).
    Raises ``ValueError`` for a history that is not contiguous in time.
    """
    if not raw.contiguous:
        raise ValueError("a history to clean must be contiguous in time")
    quality = quality or QualityParams()
    n, t = raw.n_sensors, raw.n_buckets
    out = {v: np.full((n, t), np.nan, np.float32) for v in VARIABLES}
    flags = np.zeros((n, t), np.uint8)
    imputed = np.zeros((n, t), np.uint8)
    fields = _readings_source(raw)
    if t and n:
        _Closer(raw, quality, capacity_vphpl, chunk_buckets).run(fields, out, flags, imputed)
    return FeatureHistory(out, flags, imputed, raw.buckets.copy(), raw.bucket_s, raw.timezone,
                          raw.static, raw.graph, raw.offset_s, raw.sensor_ids, measured=fields,
                          upstream=raw.upstream, downstream=raw.downstream)


def _readings_source(raw: FeatureHistory) -> dict[str, np.ndarray]:
    """The three reading fields ``(N, T)`` (all NaN for a variable the dataset lacks)."""
    shape = (raw.n_sensors, raw.n_buckets)
    return {v: raw.values[v] if v in raw.values else np.full(shape, np.nan, np.float32)
            for v in VARIABLES}


def _static_column(raw: FeatureHistory, name: str) -> np.ndarray | None:
    """One static attribute per sensor with NaN left as NaN (None without a static table)."""
    if raw.static is None:
        return None
    return raw.static[:, STATIC_NAMES.index(name)]


class _Closer:
    """The engine's close path over a dataset: open-bucket accumulators for one chunk of
    buckets, a small history ring, and the per-sensor quality state, driven chunk by chunk."""

    def __init__(self, raw: FeatureHistory, quality: QualityParams,
                 capacity_vphpl: float | np.ndarray | None, chunk_buckets: int | None) -> None:
        n = raw.n_sensors
        self.bucket_ms = raw.bucket_s * 1000
        self.buckets = raw.buckets
        self.qp = quality.to_array(raw.bucket_s)
        lanes = _static_column(raw, "lanes")
        free_flow = _static_column(raw, "free_flow_kmh")
        self.sp = sensor_parameters(
            n, raw.bucket_s, quality, reporting_interval_s=float(raw.bucket_s),
            lanes=None if lanes is None else np.where(np.isnan(lanes), DEFAULT_LANES, lanes),
            capacity_vphpl=capacity_vphpl,
            free_flow_kmh=(None if free_flow is None else
                           np.where(np.isnan(free_flow), DEFAULT_FREE_FLOW_KMH, free_flow)))
        graph = raw.graph
        # writeable copies, as RoadState holds them (the kernels then compile once for both)
        self.indptr = np.array(graph.indptr if graph is not None else np.zeros(n + 1), np.int64)
        self.indices = np.array(graph.indices if graph is not None else np.empty(0), np.int32)
        self.chunk = int(chunk_buckets or max(8, min(_MAX_CHUNK, CELLS_PER_CHUNK // max(n, 1))))
        self.max_gap = quality.max_gap_buckets
        per_day = int(self.qp[kq.QP_BUCKETS_PER_DAY])
        # the ring reaches the same bucket yesterday from the newest bucket of a chunk, and
        # keeps the columns not yet copied out (they trail the newest by max_gap + a chunk)
        self.ring = per_day + self.chunk + self.max_gap + 2
        self.hist = kh.new_history(n, self.ring)
        self.acc, self.slot_bucket = kb.new_accumulators(self.chunk, n)
        self.qstate = (np.full((n, kh.N_VARS), np.nan, np.float32), np.zeros(n, np.int32),
                       np.full((n, kh.N_VARS), np.nan, np.float32), np.zeros(n, np.float32))

    def run(self, fields: dict[str, np.ndarray], out: dict[str, np.ndarray], flags: np.ndarray,
            imputed: np.ndarray) -> None:
        """Close every bucket of ``fields`` (``(N, T)`` per reading field) and write the final
        columns into ``out`` / ``flags`` / ``imputed`` ``(N, T)``."""
        t = len(self.buckets)
        first = int(self.buckets[0])
        done = 0  # columns copied out
        ids = np.empty(self.chunk, np.int64)
        no_data, n_imputed = np.empty_like(ids), np.empty_like(ids)
        for lo in range(0, t, self.chunk):
            hi = min(t, lo + self.chunk)
            self._accumulate(fields, lo, hi, first + lo)
            close_buckets(self.acc, self.slot_bucket, first + lo, first + hi, self.hist,
                          self.sp, self.indptr, self.indices, self.qp, self.qstate, ids,
                          no_data, n_imputed)
            final = t if hi == t else max(done, hi - self.max_gap)
            self._copy_out(done, final, first, out, flags, imputed)
            done = final

    def _accumulate(self, fields: dict[str, np.ndarray], lo: int, hi: int,
                    closed_upto: int) -> None:
        """Add the readings of columns ``lo .. hi - 1`` (one per sensor and bucket with a
        value that the wire contract accepts) to the open buckets."""
        block = {v: fields[v][:, lo:hi] for v in VARIABLES}
        present = np.zeros(block["speed"].shape, bool)
        refused = np.zeros_like(present)
        for v, x in block.items():
            low, high = READING_RANGES[v]
            present |= ~np.isnan(x)
            refused |= (x < low) | (x > high) | np.isinf(x)
        col, sensor = np.nonzero((present & ~refused).T)  # time-major, as a stream sends them
        ts = (self.buckets[lo + col] * self.bucket_ms + self.bucket_ms // 2).astype(np.int64)
        values = [block[v][sensor, col] for v in ("flow", "occupancy", "speed")]
        status = np.empty(len(sensor), np.int8)
        kb.accumulate(_ro(sensor, np.int32), _ro(ts, np.int64), *(_ro(x, np.float32)
                                                                  for x in values),
                      self.bucket_ms, closed_upto, self.acc, self.slot_bucket, status)

    def _copy_out(self, lo: int, hi: int, first: int, out: dict[str, np.ndarray],
                  flags: np.ndarray, imputed: np.ndarray) -> None:
        """Columns ``lo .. hi - 1`` from the ring, as ``History.export()`` reads them."""
        if hi <= lo:
            return
        cols = (first + np.arange(lo, hi, dtype=np.int64)) % self.ring
        vals = self.hist[0]
        for v in VARIABLES:
            q = vals[VAR_CODE[v]][cols]
            x = q.astype(np.float32) / np.float32(_SCALES[v])
            x[q == kh.Q_MISSING] = np.nan
            out[v][:, lo:hi] = x.T
        flags[:, lo:hi] = self.hist[4][cols].T
        imputed[:, lo:hi] = self.hist[5][cols].T


def _ro(values: np.ndarray, dtype: type) -> np.ndarray:
    """A contiguous read-only array of ``dtype``, as the engine hands columns to the kernels
    (so the kernels compile once for both)."""
    out = np.ascontiguousarray(values, dtype).view()
    out.flags.writeable = False
    return out
