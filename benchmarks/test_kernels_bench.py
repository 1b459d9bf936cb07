"""Kernel benchmarks: aggregation into a 10k-sensor state (and a pandas groupby doing the same
work), closing a bucket (quality + imputation + history write), window reads, memory.

Run: ``.venv/bin/pytest benchmarks/test_kernels_bench.py --benchmark-only``. Derived figures
(readings/s, the pandas ratio, bytes per sensor) are printed and kept in ``extra_info``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from flowcast.city import Csr
from flowcast.engine.road_state import RoadState
from flowcast.ingest.readings import RoadBatch
from flowcast.kernels import buckets as kb

N_SENSORS = 10_000
BATCH = 10_000
N_BATCHES = 20
BUCKET_MS = 300_000
T0 = 1_764_000_000_000
B0 = T0 // BUCKET_MS
HISTORY_8_DAYS = 8 * 288

_medians: dict[str, float] = {}


def _batches(seed: int = 0) -> list[RoadBatch]:
    """Batches of 10k readings spread over two open buckets, 10% of each field null."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_BATCHES):
        fields = [rng.integers(0, 12, BATCH).astype(np.float32),
                  rng.uniform(0, 0.4, BATCH).astype(np.float32),
                  rng.uniform(10, 100, BATCH).astype(np.float32)]
        for x in fields:
            x[rng.random(BATCH) < 0.1] = np.nan
        columns = [rng.integers(0, N_SENSORS, BATCH).astype(np.int32),
                   np.sort(T0 + rng.integers(0, 2 * BUCKET_MS, BATCH)), *fields]
        for c in columns:  # read-only, as RoadState hands them over
            c.flags.writeable = False
        out.append(RoadBatch(*columns))
    return out


def _median(benchmark: Any) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else stats.stats.median


def _graph(n: int) -> Csr:
    """A ring road with a second link four sensors on: four neighbours each."""
    src = np.repeat(np.arange(n), 4)
    dst = (src + np.tile([1, -1, 4, -4], n)) % n
    return Csr.from_edges(n, src, dst)


@pytest.fixture(scope="module")
def batches() -> list[RoadBatch]:
    return _batches()


def test_aggregation_kernel(benchmark: Any, batches: list[RoadBatch]) -> None:
    acc, slots = kb.new_accumulators(4, N_SENSORS)
    status = np.empty(BATCH, np.int8)

    def run() -> None:
        for b in batches:
            kb.accumulate(b.sensor, b.ts_ms, b.flow, b.occupancy, b.speed, BUCKET_MS, B0, acc,
                          slots, status)

    run()  # compile outside the timing
    benchmark(run)
    assert (status == kb.ACCEPTED).all()
    median = _median(benchmark)
    if median:
        _medians["kernel"] = median
        rate = N_BATCHES * BATCH / median
        benchmark.extra_info["readings_per_s"] = rate
        print(f"\naggregation kernel: {rate / 1e6:.1f} M readings/s (one core)")


def _pandas_accumulate(b: RoadBatch, state: np.ndarray) -> None:
    """The same accumulation with a pandas groupby per batch, added into a dense state."""
    df = pd.DataFrame({"s": b.sensor, "k": b.ts_ms // BUCKET_MS, "f": b.flow.astype(np.float64),
                       "o": b.occupancy.astype(np.float64), "v": b.speed.astype(np.float64)})
    usable = df.v.notna() & (df.f > 0)
    df["fw"] = (df.v * df.f).where(usable, 0.0)
    df["w"] = df.f.where(usable, 0.0)
    g = df.groupby(["k", "s"])
    agg = pd.DataFrame({"n": g.size(), "f": g.f.sum(), "os": g.o.sum(), "on": g.o.count(),
                        "fw": g.fw.sum(), "w": g.w.sum(), "vs": g.v.sum(), "vn": g.v.count()})
    k = agg.index.get_level_values(0).to_numpy() % state.shape[0]
    s = agg.index.get_level_values(1).to_numpy()
    state[k, s] += agg.to_numpy()


def test_aggregation_pandas_groupby(benchmark: Any, batches: list[RoadBatch]) -> None:
    state = np.zeros((4, N_SENSORS, 8))

    def run() -> None:
        for b in batches:
            _pandas_accumulate(b, state)

    benchmark.pedantic(run, rounds=3, iterations=1)
    median = _median(benchmark)
    if median:
        rate = N_BATCHES * BATCH / median
        benchmark.extra_info["readings_per_s"] = rate
        line = f"\npandas groupby: {rate / 1e6:.2f} M readings/s"
        if "kernel" in _medians:
            benchmark.extra_info["kernel_speedup"] = median / _medians["kernel"]
            line += f"; the kernel is {median / _medians['kernel']:.0f}x faster"
        print(line)


def _state_with_history() -> RoadState:
    state = RoadState(N_SENSORS, history_buckets=HISTORY_8_DAYS, open_slots=4,
                      neighbours=_graph(N_SENSORS), lanes=3.0)
    state.start(B0)
    return state


@pytest.mark.parametrize("reporting", [1.0, 0.0], ids=["all-reporting", "all-silent"])
def test_close_one_bucket(benchmark: Any, reporting: float) -> None:
    """Finalize + quality flags + imputation + history write + imputed share, 10k sensors."""
    state = _state_with_history()
    rng = np.random.default_rng(1)
    per_bucket = 10  # readings per sensor per bucket (30 s reporting)

    def add_next_bucket() -> tuple[tuple, dict]:
        b = state.closed_upto
        n = int(N_SENSORS * per_bucket * reporting)
        if n:
            sensor = np.repeat(np.arange(N_SENSORS, dtype=np.int32), per_bucket)
            state.add(RoadBatch(sensor, np.full(n, b * BUCKET_MS + 1, np.int64),
                                rng.integers(0, 12, n).astype(np.float32),
                                rng.uniform(0.02, 0.4, n).astype(np.float32),
                                rng.uniform(10, 100, n).astype(np.float32)))
        return (b + 1,), {}

    for _ in range(3):  # compile, and give the ring a past to impute from
        state.close(*add_next_bucket()[0])
    benchmark.pedantic(state.close, setup=add_next_bucket, rounds=40, iterations=1)
    median = _median(benchmark)
    if median:
        benchmark.extra_info["ms_per_bucket"] = median * 1e3
        print(f"\nclose one bucket, {N_SENSORS} sensors, {benchmark.name}: {median * 1e3:.2f} ms")


def test_window_read_and_memory(benchmark: Any) -> None:
    """A feature read (10k sensors x 12 buckets) from an 8-day ring, and the state's bytes."""
    state = _state_with_history()
    state.close(B0 + 24)
    state.window(B0 + 24, 12)  # compile outside the timing
    window = benchmark(state.window, B0 + 24, 12)
    assert window.flow.shape == (N_SENSORS, 12) and not np.isnan(window.flow).any()
    history = state.history.nbytes
    others = (state.acc, state.slot_bucket, state.sp, state.last_raw, state.recent,
              state.stuck_run, state.imputed_share, state.corrections, state.indices,
              state.indptr)
    total = history + sum(a.nbytes for a in others)
    per_sensor = history / N_SENSORS
    benchmark.extra_info.update(history_bytes_per_sensor=per_sensor,
                                state_bytes_per_sensor=total / N_SENSORS)
    print(f"\nhistory, 8 days of 5-min buckets: {per_sensor:,.0f} B/sensor "
          f"({per_sensor / HISTORY_8_DAYS:.1f} B/sensor-bucket); whole road state "
          f"{total / N_SENSORS:,.0f} B/sensor: {total / 2**20:.0f} MiB at 10k sensors, "
          f"{total * 10 / 2**30:.2f} GiB at 100k")
