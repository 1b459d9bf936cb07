"""Late readings: exact merges into closed cells, corrections, re-imputation, refills."""

from __future__ import annotations

import numpy as np

from flowcast.ingest.readings import RoadBatch
from flowcast.kernels import history as kh
from flowcast.kernels import late_readings as kl
from flowcast.kernels import quality as kq
from kernels.road_buckets import (
    B0,
)
from kernels.road_states import MS, _cell, _feed, _state


def _hist_cell(hist: tuple, col: int, s: int) -> tuple[float, float, float]:
    return tuple(kh.cell_value(hist, col, s, v) for v in range(3))  # type: ignore[return-value]


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


def test_merging_readings_one_by_one_equals_the_bucket_statistics() -> None:
    rng = np.random.default_rng(7)
    hist = kh.new_history(1, 4)
    hist[6][1] = 1  # a raw cell with no readings yet
    n = 40
    flow = rng.integers(0, 9, n).astype(np.float64)
    occ = rng.uniform(0, 0.5, n)
    speed = rng.uniform(20, 100, n)
    flow[rng.random(n) < 0.2] = np.nan
    occ[rng.random(n) < 0.2] = np.nan
    speed[rng.random(n) < 0.2] = np.nan
    for i in range(n):
        kl.merge_reading(hist, 1, 0, flow[i], occ[i], speed[i])
    usable = ~np.isnan(speed) & (np.nan_to_num(flow) > 0)
    expected = (np.nansum(flow), np.nanmean(occ),
                (speed[usable] * flow[usable]).sum() / flow[usable].sum())
    np.testing.assert_allclose(_hist_cell(hist, 1, 0), expected, atol=0.02)
    assert hist[2][1, 0] == n and hist[3][1, 0] == (~np.isnan(occ)).sum()
    assert hist[1][1, 0] == flow[usable].sum() * kh.WEIGHT_SCALE


def test_speed_modes_arithmetic_then_flow_weighted() -> None:
    hist = kh.new_history(1, 2)
    hist[6][0] = 0
    kl.merge_reading(hist, 0, 0, np.nan, np.nan, 40.0)  # speed-only probe readings
    kl.merge_reading(hist, 0, 0, np.nan, np.nan, 60.0)
    assert _hist_cell(hist, 0, 0)[2] == 50.0 and hist[1][0, 0] == kh.SW_ARITH | 2
    kl.merge_reading(hist, 0, 0, 10.0, np.nan, 30.0)  # usable flow: weighted mean takes over
    assert _hist_cell(hist, 0, 0)[2] == 30.0 and hist[1][0, 0] == 10 * kh.WEIGHT_SCALE
    kl.merge_reading(hist, 0, 0, 30.0, np.nan, 70.0)
    assert _hist_cell(hist, 0, 0)[2] == 60.0
    kl.merge_reading(hist, 0, 0, 0.0, np.nan, 5.0)  # no usable flow: the weighted mean stays
    assert _hist_cell(hist, 0, 0)[2] == 60.0 and _hist_cell(hist, 0, 0)[0] == 40.0


def test_merge_restarts_an_imputed_variable() -> None:
    hist = kh.new_history(1, 2)
    hist[6][0] = 0
    kh.set_cell_value(hist, 0, 0, kh.FLOW, 99.0)
    hist[5][0, 0] = kq.ALL_PENDING  # every variable holds an imputed value
    kl.merge_reading(hist, 0, 0, 4.0, np.nan, np.nan)
    assert _hist_cell(hist, 0, 0)[0] == 4.0
    assert kh.imp_code(hist[5][0, 0], kh.FLOW) == kh.IMP_RAW
    assert kh.imp_code(hist[5][0, 0], kh.OCC) == kh.IMP_FALLBACK
