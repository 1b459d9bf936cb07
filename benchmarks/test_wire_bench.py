"""Wire-format throughput, in readings per second on one core.

Run: ``.venv/bin/pytest benchmarks/test_wire_bench.py --benchmark-only -s`` (``-s`` shows
the readings/s lines). Targets: JSON decode >= 300k readings/s, Arrow decode of 10k-reading
frames >= 5M readings/s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from timing import Timed

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch
from flowcast.ingest.simulator import generate_city
from flowcast.ingest.wire.codec import (
    ARROW_HEADERS,
    decode_road_records,
    encode_road_arrow,
    encode_road_arrow_by_region,
    encode_road_json,
)

N = 10_000  # readings per batch: one poll of JSON records, or one frame


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(N, 10, seed=1)


@pytest.fixture(scope="module")
def batch(city: City) -> RoadBatch:
    """One reporting interval of the whole city, with the simulator's share of nulls."""
    rng = np.random.default_rng(0)
    out = RoadBatch(np.arange(N, dtype=np.int32), np.full(N, 1_764_000_000_000, np.int64),
                    rng.poisson(12, N).astype(np.float32), rng.beta(2, 12, N).astype(np.float32),
                    (30 + 50 * rng.random(N)).astype(np.float32))
    for column in (out.flow, out.occupancy, out.speed):
        column[rng.random(N) < 0.005] = np.nan
    return out


def run(benchmark: Any, name: str, readings: int, func: Callable[..., Any], *args: Any) -> Any:
    """Benchmark ``func(*args)`` and report readings per second."""
    timed = Timed(func)
    result = benchmark(timed, *args)
    rate, best = readings / timed.mean, readings / timed.best
    benchmark.extra_info.update(readings_per_s=rate, best_readings_per_s=best)
    print(f"\n{name}: {rate:,.0f} readings/s (mean), {best:,.0f} (best round)")
    return result


def test_decode_json(benchmark: Any, city: City, batch: RoadBatch) -> None:
    values = encode_road_json(batch, city)
    headers: list[list[tuple[str, bytes]]] = [[] for _ in values]  # as polled: no headers
    result = run(benchmark, "decode JSON", N, decode_road_records, values, headers, city)
    assert len(result.batch) == N and len(result.rejects) == 0


def test_decode_arrow_frames(benchmark: Any, city: City, batch: RoadBatch) -> None:
    frames = [encode_road_arrow(batch, city)] * 10
    result = run(benchmark, "decode Arrow (10 frames x 10k)", 10 * N, decode_road_records,
                 frames, [ARROW_HEADERS] * 10, city)
    assert len(result.batch) == 10 * N


def test_encode_json(benchmark: Any, city: City, batch: RoadBatch) -> None:
    records = run(benchmark, "encode JSON", N, encode_road_json, batch, city)
    assert len(records) == N


def test_encode_arrow(benchmark: Any, city: City, batch: RoadBatch) -> None:
    frame = run(benchmark, "encode Arrow (one 10k frame)", N, encode_road_arrow, batch, city)
    assert len(frame) > 0


def test_encode_arrow_by_region(benchmark: Any, city: City, batch: RoadBatch) -> None:
    frames = run(benchmark, "encode Arrow by region", N, encode_road_arrow_by_region, batch,
                 city)
    assert len(frames) == city.n_regions
