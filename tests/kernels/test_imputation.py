"""Imputation of closed buckets: temporal, then spatial, then fallback; linear refills."""

from __future__ import annotations

import numpy as np

from flowcast.city import Csr
from flowcast.engine.road_state import RoadState
from flowcast.ingest.readings import RoadBatch
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from flowcast.kernels.quality_params import QualityParams
from kernels.road_states import B0, _cell, _code, _feed, _state


def test_zero_flow_with_occupancy_is_imputed_from_the_last_good_bucket() -> None:
    state = _state(1)
    _feed(state, B0, [(0, 40, 0.1, 60)])
    _feed(state, B0 + 1, [(0, 0, 0.3, 58)])
    values, flags, imp = _cell(state, B0 + 1, 0)
    assert flags & kq.ZERO_FLOW_WITH_OCCUPANCY and flags & kq.IMPUTED
    np.testing.assert_allclose(values, [40, 0.1, 60])
    assert all(_code(imp, v) == kh.IMP_TEMPORAL for v in range(3))


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
