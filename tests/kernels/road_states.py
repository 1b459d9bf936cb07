"""Shared helpers of the road quality tests: a small RoadState fed bucket by bucket."""

from __future__ import annotations

import numpy as np

from flowcast.city import Csr
from flowcast.engine.road_state import RoadState
from flowcast.ingest.readings import RoadBatch

BUCKET_S = 300
MS = BUCKET_S * 1000
B0 = 1_764_000_000_000 // MS


def _state(n: int, edges: list[tuple[int, int]] = (), **kw: object) -> RoadState:
    src = [a for a, b in edges] + [b for a, b in edges]
    dst = [b for a, b in edges] + [a for a, b in edges]
    graph = Csr.from_edges(n, np.array(src, np.int64), np.array(dst, np.int64))
    kw.setdefault("history_buckets", 64)
    state = RoadState(n, BUCKET_S, open_slots=2, neighbours=graph, **kw)  # type: ignore[arg-type]
    state.start(B0)
    return state


def _feed(state: RoadState, bucket: int, rows: list[tuple[int, float, float, float]],
          repeat: int = 10) -> None:
    """One bucket of readings: each row (sensor, flow, occupancy, speed) reported ``repeat``
    times (flow split evenly), then the bucket is closed."""
    arr = np.array(rows, np.float64).reshape(-1, 4).repeat(repeat, axis=0)
    batch = RoadBatch(arr[:, 0].astype(np.int32), np.full(len(arr), bucket * MS + 1000, np.int64),
                      (arr[:, 1] / repeat).astype(np.float32), arr[:, 2].astype(np.float32),
                      arr[:, 3].astype(np.float32))
    assert state.add(batch).accepted == len(arr)
    state.close(bucket + 1)


def _cell(state: RoadState, bucket: int, s: int) -> tuple[np.ndarray, int, int]:
    w = state.window(bucket + 1, 1, np.array([s]))
    return (np.array([w.flow[0, 0], w.occupancy[0, 0], w.speed[0, 0]]), int(w.flags[0, 0]),
            int(w.imputed[0, 0]))


def _code(imp: int, v: int) -> int:
    return (imp >> (2 * v)) & 3
