"""Data-quality flags and imputation on closed buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowcast.city import Csr
from flowcast.engine.state import QualityParams, RoadState
from flowcast.ingest.readings import RoadBatch
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq

BUCKET_S = 300
MS = BUCKET_S * 1000
B0 = 1_764_000_000_000 // MS
LOCAL = kq.NO_DATA | kq.FEW_SAMPLES | kq.ZERO_FLOW_WITH_OCCUPANCY | kq.HIGH_OCCUPANCY | \
    kq.FLOW_OCC_INCONSISTENT


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


def test_local_flag_rules() -> None:
    qp = QualityParams().to_array(BUCKET_S)

    def flags(n: float, flow: float, occ: float, lanes: float = 1.0) -> int:
        return kq.local_flags(float(n), float(flow), float(occ), 10.0, lanes, 2000.0, qp)

    assert flags(0, np.nan, np.nan) == kq.NO_DATA
    assert flags(10, 50, 0.1) == 0
    assert flags(3, 50, 0.1) == kq.FEW_SAMPLES
    assert flags(10, 0, 0.2) == kq.ZERO_FLOW_WITH_OCCUPANCY
    assert flags(10, 0, 0.01) == 0  # a quiet road: zero flow, next to no occupancy
    assert flags(10, 120, 0.8) == kq.HIGH_OCCUPANCY
    assert flags(10, 400, 0.3) == kq.FLOW_OCC_INCONSISTENT  # 4800 veh/h/lane
    assert flags(10, 400, 0.3, lanes=3) == 0
    assert flags(10, 100, 0.001) == kq.FLOW_OCC_INCONSISTENT  # 1200 veh/h/lane, empty loop
    assert flags(10, np.nan, np.nan) == 0


def test_flags_match_a_numpy_reference_on_random_buckets() -> None:
    rng = np.random.default_rng(11)
    n, n_buckets = 12, 8
    lanes = rng.integers(1, 4, n).astype(np.float32)
    state = _state(n, lanes=lanes, capacity_vphpl=1800.0)
    rows = []
    for b in range(B0, B0 + n_buckets):
        k = rng.integers(0, 14, n)  # readings per sensor, 0 = silent
        sensor = np.repeat(np.arange(n), k).astype(np.int32)
        m = len(sensor)
        flow = rng.choice([0.0, 2.0, 9.0, 40.0], m).astype(np.float32)
        occ = rng.choice([0.0, 0.005, 0.1, 0.9], m).astype(np.float32)
        speed = rng.uniform(10, 90, m).astype(np.float32)
        ts = np.full(m, b * MS + 5, np.int64)
        state.add(RoadBatch(sensor, ts, flow, occ, speed))
        state.close(b + 1)
        rows.append(pd.DataFrame({"s": sensor, "b": b, "f": flow, "o": occ}))
    df = pd.concat(rows)
    g = df.groupby(["s", "b"])
    ref = pd.DataFrame({"n": g.size(), "f": g.f.sum(), "o": g.o.mean()}).reset_index()
    expected = np.full((n_buckets, n), kq.NO_DATA, np.uint8)
    vphpl = ref.f / lanes[ref.s] / (BUCKET_S / 3600)
    f = np.zeros(len(ref), np.uint8)
    f |= np.where(ref.n < 5, kq.FEW_SAMPLES, 0).astype(np.uint8)
    f |= np.where((ref.f == 0) & (ref.o > 0.05), kq.ZERO_FLOW_WITH_OCCUPANCY, 0).astype(np.uint8)
    f |= np.where(ref.o > 0.7, kq.HIGH_OCCUPANCY, 0).astype(np.uint8)
    bad = (vphpl > 1800 * 1.5) | ((ref.o < 0.01) & (vphpl > 600))
    f |= np.where(bad, kq.FLOW_OCC_INCONSISTENT, 0).astype(np.uint8)
    expected[ref.b - B0, ref.s] = f
    got = state.window(B0 + n_buckets, n_buckets).flags.T
    np.testing.assert_array_equal(got & LOCAL, expected)
    assert ((got & kq.IMPUTED) > 0).sum() >= (expected & kq.NO_DATA > 0).sum()


def test_stuck_detector_is_flagged_and_imputed_but_a_quiet_road_is_not() -> None:
    state = _state(3, quality=QualityParams(stuck_buckets=4))
    for j in range(8):
        _feed(state, B0 + j, [(0, 30, 0.12, 55.5),  # stuck at the same values
                              (1, 0, 0, np.nan),  # an empty road at night
                              (2, 30 + j, 0.12, 55.5)])
    flags = state.window(B0 + 8, 8).flags
    stuck = (flags & kq.STUCK) > 0
    assert stuck[0].tolist() == [False] * 3 + [True] * 5
    assert not stuck[1:].any()
    assert (flags[0, 3:] & kq.IMPUTED).all()
    # a different value breaks the run
    _feed(state, B0 + 8, [(0, 31, 0.12, 55.5)])
    assert not _cell(state, B0 + 8, 0)[1] & kq.STUCK


def test_zero_flow_with_occupancy_is_imputed_from_the_last_good_bucket() -> None:
    state = _state(1)
    _feed(state, B0, [(0, 40, 0.1, 60)])
    _feed(state, B0 + 1, [(0, 0, 0.3, 58)])
    values, flags, imp = _cell(state, B0 + 1, 0)
    assert flags & kq.ZERO_FLOW_WITH_OCCUPANCY and flags & kq.IMPUTED
    np.testing.assert_allclose(values, [40, 0.1, 60])
    assert all(_code(imp, v) == kh.IMP_TEMPORAL for v in range(3))


def test_high_occupancy_alone_keeps_its_values() -> None:
    state = _state(1)
    _feed(state, B0, [(0, 20, 0.85, 8)])  # a real jam
    values, flags, imp = _cell(state, B0, 0)
    assert flags == kq.HIGH_OCCUPANCY and imp == 0
    np.testing.assert_allclose(values, [20, 0.85, 8])


def test_imputation_order_temporal_then_spatial_then_fallback() -> None:
    # 0 - 1 - 2 is a chain; 3 and 4 have no neighbours; 4 never reports
    lanes = np.array([2, 3, 4, 1, 1], np.float32)
    free_flow = np.array([60, 60, 60, 80, 70], np.float32)
    state = _state(5, edges=[(0, 1), (1, 2)], lanes=lanes, free_flow_kmh=free_flow)
    _feed(state, B0, [(0, 10, 0.1, 50), (1, 20, 0.2, 40), (2, 40, 0.3, 30), (3, 7, 0.05, 70)])
    for j in range(1, 6):
        _feed(state, B0 + j, [(0, 10, 0.1, 50), (2, 40, 0.3, 30)])
    # one bucket after its last good one, sensor 1 carries it forward although neighbours report
    values, flags, imp = _cell(state, B0 + 1, 1)
    assert flags & kq.NO_DATA and flags & kq.IMPUTED
    np.testing.assert_allclose(values, [20, 0.2, 40])
    assert all(_code(imp, v) == kh.IMP_TEMPORAL for v in range(3))
    # past max_gap (3): the neighbours' mean, flow per lane scaled to its 3 lanes
    values, _, imp = _cell(state, B0 + 4, 1)
    np.testing.assert_allclose(values, [(10 / 2 + 40 / 4) / 2 * 3, 0.2, 40])
    assert all(_code(imp, v) == kh.IMP_SPATIAL for v in range(3))
    # no neighbour: the recent mean for flow and occupancy, the free-flow speed
    values, _, imp = _cell(state, B0 + 4, 3)
    np.testing.assert_allclose(values, [7, 0.05, 80])
    assert all(_code(imp, v) == kh.IMP_FALLBACK for v in range(3))
    # never a good value: zero flow and occupancy
    values, _, _ = _cell(state, B0 + 4, 4)
    np.testing.assert_allclose(values, [0, 0, 70])
    assert not np.isnan(state.window(B0 + 6, 6).flow).any()


def test_gap_is_refilled_linearly_once_the_right_side_arrives() -> None:
    state = _state(1)
    _feed(state, B0, [(0, 10, 0.1, 60)])
    _feed(state, B0 + 1, [])
    _feed(state, B0 + 2, [])
    assert _cell(state, B0 + 2, 0)[0][0] == 10  # carried forward while the gap is open
    _feed(state, B0 + 3, [(0, 40, 0.4, 30)])
    w = state.window(B0 + 4, 4)
    np.testing.assert_allclose(w.flow[0], [10, 20, 30, 40])
    np.testing.assert_allclose(w.speed[0], [60, 50, 40, 30])
    assert (w.imputed_code(kh.FLOW)[0] == [0, kh.IMP_TEMPORAL, kh.IMP_TEMPORAL, 0]).all()


def test_same_bucket_yesterday_comes_before_neighbours() -> None:
    hour = 3600
    state = RoadState(2, hour, history_buckets=60, open_slots=2,
                      neighbours=Csr.from_edges(2, np.array([0, 1]), np.array([1, 0])),
                      quality=QualityParams(max_gap_buckets=1))
    day0 = 1_764_000_000_000 // (hour * 1000)
    state.start(day0)
    for j in range(30):
        rows = [(1, 100 + j, 0.2, 40)]  # varying, or it would be STUCK
        if j == 5:
            rows.append((0, 77, 0.3, 33))
        arr = np.array(rows, np.float64)
        state.add(RoadBatch(arr[:, 0].astype(np.int32),
                            np.full(len(arr), (day0 + j) * hour * 1000, np.int64),
                            arr[:, 1].astype(np.float32), arr[:, 2].astype(np.float32),
                            arr[:, 3].astype(np.float32)))
        state.close(day0 + j + 1)
    w = state.window(day0 + 30, 30, np.array([0]))
    np.testing.assert_allclose(w.flow[0, 29], 77)  # bucket 29 = bucket 5 + one day
    assert w.imputed_code(kh.FLOW)[0, 29] == kh.IMP_TEMPORAL
    np.testing.assert_allclose(w.flow[0, 28], 128)  # no yesterday: the neighbour
    assert w.imputed_code(kh.FLOW)[0, 28] == kh.IMP_SPATIAL


def test_imputed_share_over_the_window() -> None:
    state = _state(2, quality=QualityParams(share_window_buckets=4))
    for j, rows in enumerate([[(0, 5, 0.1, 50), (1, 5, 0.1, 50)],
                              [(0, 5, 0.1, 51), (1, 5, 0.1, 52)],
                              [(0, 5, 0.1, 53)],
                              [(0, 5, 0.1, 54)]]):
        _feed(state, B0 + j, rows)
    np.testing.assert_allclose(state.imputed_share, [0.0, 0.5])
    for j in range(4, 8):
        _feed(state, B0 + j, [])
    np.testing.assert_allclose(state.imputed_share, [1.0, 1.0])


def test_late_reading_into_a_bad_bucket_is_counted_but_keeps_the_imputation() -> None:
    state = _state(1)
    _feed(state, B0, [(0, 40, 0.1, 60)])
    _feed(state, B0 + 1, [(0, 0, 0.3, 58)])
    before, _, _ = _cell(state, B0 + 1, 0)
    late = RoadBatch(np.zeros(1, np.int32), np.array([(B0 + 1) * MS], np.int64),
                     np.array([20], np.float32), np.array([0.1], np.float32),
                     np.array([50], np.float32))
    assert state.add(late).corrected == 1
    after, flags, _ = _cell(state, B0 + 1, 0)
    np.testing.assert_array_equal(before, after)
    assert flags & kq.CORRECTED and flags & kq.ZERO_FLOW_WITH_OCCUPANCY
    assert state.window(B0 + 2, 1).count[0, 0] == 11 and state.corrections[0] == 1


def test_late_reading_into_a_silent_bucket_becomes_raw_and_refills_the_gap() -> None:
    state = _state(1)
    _feed(state, B0, [(0, 10, 0.1, 60)])
    for j in (1, 2, 3):
        _feed(state, B0 + j, [])
    _feed(state, B0 + 4, [(0, 50, 0.5, 20)])
    late = RoadBatch(np.zeros(1, np.int32), np.array([(B0 + 2) * MS + 7], np.int64),
                     np.array([90], np.float32), np.array([0.3], np.float32),
                     np.array([np.nan], np.float32))
    state.add(late)
    w = state.window(B0 + 5, 5)
    np.testing.assert_allclose(w.flow[0], [10, 50, 90, 70, 50])
    assert w.imputed_code(kh.FLOW)[0].tolist() == [0, 1, 0, 1, 0]
    # speed had no late value: the bucket keeps an imputed one, linear across the gap
    np.testing.assert_allclose(w.speed[0], [60, 50, 40, 30, 20])
    assert w.flags[0, 2] & kq.CORRECTED and not w.flags[0, 2] & kq.NO_DATA
