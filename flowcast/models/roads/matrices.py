"""Road feature rows: one call of the Numba kernel, for training and for the live engine.

:func:`build_rows` is the one place that calls
:func:`flowcast.kernels.features.build_features`; the training matrix (:func:`training_matrix`)
and the live rows (:mod:`flowcast.models.roads.live_features`) differ only in where the history
comes from and which anchors they ask for. An *anchor* is a (sensor, column) of a
:class:`~flowcast.models.roads.feature_history.FeatureHistory` whose column is the last observed
bucket ``t``; horizon ``h`` targets bucket ``t + h``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flowcast.city import Csr
from flowcast.kernels import features as kf
from flowcast.kernels import history as kh
from flowcast.models.calendar import calendar_table
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_plan import feature_plan, readonly
from flowcast.models.roads.feature_spec import STATIC_NAMES, VAR_CODE, FeatureSpec


@dataclass
class Anchors:
    """The rows of a feature matrix: ``sensor`` and ``column`` int32 ``(R,)`` into a
    :class:`FeatureHistory`, and ``bucket`` int64 ``(R,)``, the anchor's bucket id."""

    sensor: np.ndarray
    column: np.ndarray
    bucket: np.ndarray

    def __len__(self) -> int:
        return len(self.sensor)


def kernel_inputs(history: FeatureHistory, spec: FeatureSpec, sensor: np.ndarray,
                  column: np.ndarray, lut: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The arguments :func:`build_rows` hands the kernel, less ``out`` (for benchmarks and
    debugging): read-only views of the history's arrays, this call's calendar rows (only the
    anchor columns are filled), the spec's static columns and plan arrays."""
    plan = feature_plan(spec)
    _check(history, spec)
    n, t = history.n_sensors, history.n_buckets
    covs = [readonly(history.values.get(v, np.empty((n, 0))), np.float32) for v in plan.cov_vars]
    covs += [readonly(np.empty((n, 0)), np.float32)] * (2 - len(covs))
    calendar = np.full((t, len(plan.calendar_cols)), np.nan, np.float32)
    if len(plan.calendar_cols):
        cols = np.unique(column)
        table = calendar_table(history.buckets[cols], history.bucket_s, history.timezone,
                               offset_s=history.offset_s, holiday_cap_days=spec.holiday_cap_days)
        calendar[cols] = table[:, plan.calendar_cols]
    static = (np.full((n, len(STATIC_NAMES)), np.nan, np.float32) if history.static is None
              else history.static)[:, plan.static_cols]
    graph = _stacked(history, spec)
    return (
        readonly(history.values[spec.target], np.float32), covs[0], covs[1],
        readonly(history.flags, np.uint8), readonly(history.imputed, np.uint8),
        readonly(calendar, np.float32), readonly(static, np.float32),
        readonly(graph.indptr, np.int64), readonly(graph.indices, np.int32),
        readonly(sensor, np.int32), readonly(column, np.int32),
        readonly(np.empty(0) if lut is None else lut, np.int32), plan.lags, plan.windows,
        plan.seasonal, plan.cov_var, plan.cov_lag, plan.nb_lags, plan.flag_masks, plan.opts)


def _stacked(history: FeatureHistory, spec: FeatureSpec) -> Csr:
    """The sensor graphs of the spec's neighbour directions as one CSR of ``G * N`` rows (row
    ``g * N + s``: sensor ``s`` in graph ``g``; a missing undirected graph has no edges)."""
    n = history.n_sensors
    empty = Csr(np.zeros(n + 1, np.int64), np.empty(0, np.int32))
    graphs = [history.graph_for(d) or empty
              for d in (spec.neighbour_directions if spec.neighbour_lags else ())]
    if len(graphs) == 1:
        return graphs[0]
    indptr, indices, edges = [np.zeros(1, np.int64)], [], 0
    for g in graphs:
        indptr.append(np.asarray(g.indptr[1:], np.int64) + edges)
        indices.append(np.asarray(g.indices, np.int32))
        edges += int(g.indptr[-1])
    return Csr(np.concatenate(indptr), np.concatenate([np.empty(0, np.int32), *indices]))


def build_rows(history: FeatureHistory, spec: FeatureSpec, sensor: np.ndarray,
               column: np.ndarray, lut: np.ndarray | None = None) -> np.ndarray:
    """Feature rows ``(R, F)`` float32 of anchors ``(sensor[r], column[r])`` of ``history``:
    the one place both builders call the kernel. ``lut`` (offset -> column, see
    ``flowcast.kernels.features``) is for histories that are not contiguous."""
    args = kernel_inputs(history, spec, sensor, column, lut)
    out = np.empty((len(sensor), spec.n_features), np.float32)
    kf.build_features(*args, out)
    return out


def _check(history: FeatureHistory, spec: FeatureSpec) -> None:
    if spec.target not in history.values:
        raise ValueError(f"the history has no {spec.target!r} series (it holds "
                         f"{sorted(history.values)}); choose another target")
    if history.bucket_s != spec.bucket_s:
        raise ValueError(f"the history has {history.bucket_s} s buckets, the feature spec "
                         f"{spec.bucket_s} s")
    for direction in spec.neighbour_directions if spec.neighbour_lags else ():
        graph = history.graph_for(direction)
        if graph is None and direction != "all":
            raise ValueError(f"the feature spec reads {direction}stream neighbours but the "
                             "history has no directed sensor graph (it comes from the city)")
        if graph is not None and len(graph.indices) and (
                graph.indices.min() < 0 or graph.indices.max() >= history.n_sensors):
            raise ValueError(f"the {direction} graph names a sensor outside the history")


def training_anchors(history: FeatureHistory, spec: FeatureSpec, *, start: int | None = None,
                     stop: int | None = None, stride: int = 1,
                     sensors: np.ndarray | None = None) -> Anchors:
    """Anchors of a training matrix, time-major (all sensors at one column, then the next):
    every ``stride``-th column ``t`` in ``[start, stop)`` (default the whole history) with
    ``t >= spec.min_history - 1`` (enough lookback for every non-seasonal feature), for
    ``sensors`` (default all)."""
    if not history.contiguous:
        raise ValueError("a training history must be contiguous in time")
    lo = max(spec.min_history - 1, 0 if start is None else int(start))
    hi = history.n_buckets if stop is None else min(int(stop), history.n_buckets)
    cols = np.arange(lo, max(hi, lo), max(int(stride), 1), dtype=np.int32)
    held = (np.arange(history.n_sensors, dtype=np.int32) if sensors is None
            else np.asarray(sensors, np.int32))
    column = np.repeat(cols, len(held))
    sensor = np.tile(held, len(cols))
    return Anchors(sensor, column, history.buckets[column])


def targets(history: FeatureHistory, spec: FeatureSpec, anchors: Anchors,
            horizons: Sequence[int]) -> np.ndarray:
    """``Y`` ``(R, H)`` float32: the target ``horizons[j]`` buckets after each anchor; NaN when
    that bucket is beyond the history or not a measurement: missing, or imputed (an imputed
    value is not a truth; in a cleaned history that includes a value the quality rules
    rejected, e.g. a stuck detector's). A history with ``measured`` series takes the value from
    them (as measured, not as the ring quantizes it)."""
    h = np.asarray(horizons, np.int64)
    t = history.n_buckets
    cols = anchors.column[:, None].astype(np.int64) + h[None, :]
    inside = cols < t
    flat = anchors.sensor[:, None].astype(np.int64) * t + np.minimum(cols, t - 1)
    source = history.values[spec.target]
    if history.measured is not None and spec.target in history.measured:
        source = np.ascontiguousarray(history.measured[spec.target])
    y = np.take(source.ravel(), flat)
    code = (np.take(history.imputed.ravel(), flat) >> (2 * VAR_CODE[spec.target])) & 3
    return np.where(inside & (code == kh.IMP_RAW), y, np.float32(np.nan)).astype(np.float32)


def training_matrix(history: FeatureHistory, spec: FeatureSpec, horizons: Sequence[int], *,
                    start: int | None = None, stop: int | None = None, stride: int = 1,
                    sensors: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, Anchors]:
    """``(X (R, F), Y (R, H), anchors)`` for offline training; ``horizons`` in buckets.

    Rows: :func:`training_anchors`. ``Y[:, j]`` is NaN where the target is missing, imputed
    or beyond the data: callers drop those rows per horizon (never learn them as values).
    """
    if not len(horizons) or min(int(h) for h in horizons) < 1:
        raise ValueError(f"horizons must be whole numbers of buckets >= 1, got {horizons}")
    anchors = training_anchors(history, spec, start=start, stop=stop, stride=stride,
                               sensors=sensors)
    x = build_rows(history, spec, anchors.sensor, anchors.column)
    return x, targets(history, spec, anchors, horizons), anchors
