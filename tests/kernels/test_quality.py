"""Data-quality flags on closed buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowcast.ingest.readings import RoadBatch
from flowcast.kernels import quality as kq
from flowcast.kernels.quality_params import QualityParams
from kernels.road_states import B0, BUCKET_S, MS, _cell, _feed, _state

LOCAL = kq.NO_DATA | kq.FEW_SAMPLES | kq.ZERO_FLOW_WITH_OCCUPANCY | kq.HIGH_OCCUPANCY | \
    kq.FLOW_OCC_INCONSISTENT


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


def test_high_occupancy_alone_keeps_its_values() -> None:
    state = _state(1)
    _feed(state, B0, [(0, 20, 0.85, 8)])  # a real jam
    values, flags, imp = _cell(state, B0, 0)
    assert flags == kq.HIGH_OCCUPANCY and imp == 0
    np.testing.assert_allclose(values, [20, 0.85, 8])


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
