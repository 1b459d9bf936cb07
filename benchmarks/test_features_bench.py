"""Feature kernel throughput (rows x features per second, one core) and the builders around it.

Cases: the live engine's matrix for 10k sensors at one anchor time from a 2-day history (the
kernel alone, and ``live_matrix`` end to end with its calendar), the engine's sparse reads from a
real 8-day ring (``live_history`` + ``live_matrix``), and the training case of 40 sensors x 2976
15-minute steps (SZ-taxi's size).

Run: ``.venv/bin/pytest benchmarks/test_features_bench.py --benchmark-only``. Derived figures
are printed and kept in ``extra_info`` (``values_per_s`` = rows x features / median seconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flowcast.city import Csr
from flowcast.engine.road_state import RoadState
from flowcast.kernels import features as kf
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import STATIC_NAMES, FeatureSpec
from flowcast.models.roads.live_features import live_history, live_matrix
from flowcast.models.roads.matrices import kernel_inputs, training_matrix

N_LIVE = 10_000
T_LIVE = 2 * 288  # two days of 5-minute buckets
N_TRAIN = 40
T_TRAIN = 2976  # 31 days of 15-minute buckets
B0 = 1_764_000_000_000 // 300_000

SPECS = {
    "default": FeatureSpec(),
    "for_bucket": FeatureSpec.for_bucket(300, horizons=(3, 6, 9, 12)),
}


def _graph(n: int) -> Csr:
    """A ring road with a second link four sensors on: four neighbours each."""
    src = np.repeat(np.arange(n), 4)
    dst = (src + np.tile([1, -1, 4, -4], n)) % n
    return Csr.from_edges(n, src, dst)


def _history(n: int, t: int, bucket_s: int, seed: int = 0) -> FeatureHistory:
    rng = np.random.default_rng(seed)
    values = {"speed": rng.uniform(10, 100, (n, t)).astype(np.float32),
              "flow": rng.integers(0, 80, (n, t)).astype(np.float32),
              "occupancy": rng.uniform(0, 0.5, (n, t)).astype(np.float32)}
    for x in values.values():
        x[rng.random((n, t)) < 0.05] = np.nan
    static = rng.uniform(0, 4, (n, len(STATIC_NAMES))).astype(np.float32)
    first = 1_764_000_000 // bucket_s
    return FeatureHistory(values, rng.integers(0, 256, (n, t)).astype(np.uint8),
                          rng.integers(0, 64, (n, t)).astype(np.uint8),
                          first + np.arange(t, dtype=np.int64), bucket_s, "Asia/Shanghai",
                          static, _graph(n))


def _report(benchmark: Any, what: str, rows: int, n_features: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return
    median = stats.stats.median
    rate = rows * n_features / median
    benchmark.extra_info.update(rows=rows, features=n_features, values_per_s=rate,
                                ms=median * 1e3)
    print(f"\n{what}: {rows} rows x {n_features} features in {median * 1e3:.2f} ms = "
          f"{rate / 1e6:.1f} M values/s")


@pytest.fixture(scope="module")
def live_history_2d() -> FeatureHistory:
    return _history(N_LIVE, T_LIVE, 300)


@pytest.mark.parametrize("name", list(SPECS))
def test_kernel_live_10k_sensors(benchmark: Any, live_history_2d: FeatureHistory,
                                 name: str) -> None:
    """The kernel alone: 10k sensors at the last bucket of a 2-day history."""
    spec = SPECS[name]
    h = live_history_2d
    sensor = np.arange(N_LIVE, dtype=np.int32)
    column = np.full(N_LIVE, T_LIVE - 1, np.int32)
    args = kernel_inputs(h, spec, sensor, column)
    out = np.empty((N_LIVE, spec.n_features), np.float32)
    kf.build_features(*args, out)  # compile / load outside the timing
    benchmark(kf.build_features, *args, out)
    assert not np.isnan(out[:, 0]).all()
    _report(benchmark, f"kernel, live 10k sensors, {name} spec", N_LIVE, spec.n_features)


@pytest.mark.parametrize("name", list(SPECS))
def test_live_matrix_10k_sensors(benchmark: Any, live_history_2d: FeatureHistory,
                                 name: str) -> None:
    """``live_matrix`` end to end (calendar, checks, kernel) on the same 2-day history."""
    spec = SPECS[name]
    x = live_matrix(live_history_2d, None, spec)
    x = benchmark(live_matrix, live_history_2d, None, spec)
    assert x.shape == (N_LIVE, spec.n_features)
    _report(benchmark, f"live_matrix, 10k sensors, {name} spec", N_LIVE, spec.n_features)


@pytest.fixture(scope="module")
def ring_state() -> RoadState:
    """A 10k-sensor state whose 8-day ring is full of random closed buckets."""
    state = RoadState(N_LIVE, history_buckets=8 * 288, neighbours=_graph(N_LIVE))
    arrays = state.history.arrays
    vals, flags, imputed, col_bucket = arrays[0], arrays[4], arrays[5], arrays[6]
    rng = np.random.default_rng(2)
    vals[:] = rng.integers(0, 9000, vals.shape, dtype=np.uint16)
    flags[:] = rng.integers(0, 2, flags.shape, dtype=np.uint8) * 64
    imputed[:] = (flags != 0) * 21  # every variable temporal-imputed where flagged
    buckets = B0 + np.arange(8 * 288, dtype=np.int64)
    col_bucket[buckets % len(col_bucket)] = buckets
    state.closed_upto = int(buckets[-1]) + 1
    return state


@pytest.mark.parametrize("name", list(SPECS))
def test_live_sparse_reads_from_an_8_day_ring(benchmark: Any, ring_state: RoadState,
                                              name: str) -> None:
    """What the engine runs per closed bucket: the spec's columns read from the ring
    (``live_history``) and the matrix built (10k sensors, a week of lookback)."""
    spec = SPECS[name]
    anchor = ring_state.closed_upto - 1
    static = np.ones((N_LIVE, len(STATIC_NAMES)), np.float32)
    graph = Csr(ring_state.indptr, ring_state.indices)

    def run() -> np.ndarray:
        h = live_history(ring_state.window, anchor, spec, static=static, graph=graph)
        return live_matrix(h, None, spec)

    run()
    x = benchmark(run)
    assert not np.isnan(x[:, spec.names.index("speed_seasonal_2016_0")]).any()
    _report(benchmark, f"live_history + live_matrix from the ring, {name} spec", N_LIVE,
            spec.n_features)


def test_training_matrix_40_sensors_2976_steps(benchmark: Any) -> None:
    """Offline: every (sensor, step) of SZ-taxi's size, 15-minute buckets, 4 horizons."""
    spec = FeatureSpec.for_bucket(900, horizons=(1, 2, 3, 4))
    h = _history(N_TRAIN, T_TRAIN, 900, seed=1)
    training_matrix(h, spec, [1, 2, 3, 4])
    x, y, anchors = benchmark(training_matrix, h, spec, [1, 2, 3, 4])
    assert x.shape == (len(anchors), spec.n_features) and y.shape == (len(anchors), 4)
    _report(benchmark, "training_matrix, 40 sensors x 2976 steps", len(anchors),
            spec.n_features)


def test_kernel_training_40_sensors_2976_steps(benchmark: Any) -> None:
    """The kernel alone on the training case."""
    spec = FeatureSpec.for_bucket(900, horizons=(1, 2, 3, 4))
    h = _history(N_TRAIN, T_TRAIN, 900, seed=1)
    cols = np.arange(spec.min_history - 1, T_TRAIN, dtype=np.int32)
    column = np.repeat(cols, N_TRAIN)
    sensor = np.tile(np.arange(N_TRAIN, dtype=np.int32), len(cols))
    args = kernel_inputs(h, spec, sensor, column)
    out = np.empty((len(sensor), spec.n_features), np.float32)
    kf.build_features(*args, out)
    benchmark(kf.build_features, *args, out)
    _report(benchmark, "kernel, training 40 sensors x 2976 steps", len(sensor),
            spec.n_features)
