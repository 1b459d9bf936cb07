"""History ring buffers: fixed point, window reads, wrap-around, export."""

from __future__ import annotations

import numpy as np
import pytest

from flowcast.engine.road_history import History
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq


def test_fixed_point_round_trip_and_limits() -> None:
    for v, x in ((kh.FLOW, 123.375), (kh.OCC, 0.08), (kh.SPEED, 57.25)):
        q = np.uint16(kh.quantize(x, kh.var_scale(v)))
        assert kh.dequantize(q, kh.var_scale(v)) == pytest.approx(x, abs=0.5 / kh.var_scale(v))
    assert kh.quantize(np.nan, kh.FLOW_SCALE) == kh.Q_MISSING
    assert np.isnan(kh.dequantize(np.uint16(kh.Q_MISSING), kh.FLOW_SCALE))
    assert kh.quantize(-3.0, kh.FLOW_SCALE) == 0
    assert kh.quantize(1e9, kh.FLOW_SCALE) == kh.Q_MAX  # saturates below the missing code
    assert kh.encode_flow_weight(0.01) == 1  # a positive weight never reads as "no speed"
    assert kh.encode_arith_count(3) == kh.SW_ARITH | 3


def _filled(n_sensors: int, n_buckets: int, first: int, last: int) -> History:
    """A history whose buckets ``first..last`` hold value ``bucket + sensor / 10`` as flow."""
    h = History(n_sensors, n_buckets)
    vals, _, count, _, flags, _, col_bucket = h.arrays
    for b in range(first, last + 1):
        col = b % n_buckets
        col_bucket[col] = b
        for s in range(n_sensors):
            vals[kh.FLOW, col, s] = kh.quantize(b + s / 10, kh.FLOW_SCALE)
            vals[kh.OCC, col, s] = kh.quantize(0.1, kh.OCC_SCALE)
            vals[kh.SPEED, col, s] = kh.quantize(50.0 + s, kh.SPEED_SCALE)
            count[col, s] = 10
            flags[col, s] = kq.FEW_SAMPLES if s == 1 else 0
    return h


def test_window_reads_time_aligned_columns() -> None:
    h = _filled(3, 8, first=100, last=105)
    w = h.window(106, 4)
    assert w.first_bucket == 102 and w.flow.shape == (3, 4)
    np.testing.assert_allclose(w.flow[2], [102.25, 103.25, 104.25, 105.25])  # 0.2 -> 1/8 steps
    np.testing.assert_allclose(w.speed[:, 0], [50, 51, 52])
    assert (w.flags[1] == kq.FEW_SAMPLES).all() and (w.count == 10).all()
    sub = h.window(106, 2, sensors=np.array([2, 0]))
    np.testing.assert_allclose(sub.flow, [[104.25, 105.25], [104, 105]])


def test_ring_wraps_and_old_buckets_read_as_missing() -> None:
    h = _filled(2, 8, first=100, last=111)  # 12 buckets into 8 columns: 100..103 overwritten
    w = h.window(112, 12)
    stale = slice(0, 4)
    assert np.isnan(w.flow[:, stale]).all() and np.isnan(w.speed[:, stale]).all()
    assert (w.flags[:, stale] == kq.NO_DATA).all() and (w.count[:, stale] == 0).all()
    assert not (w.flags[:, stale] & kq.IMPUTED).any()
    np.testing.assert_allclose(w.flow[0, 4:], np.arange(104, 112))
    future = h.window(115, 2)  # buckets never written read as missing too
    assert np.isnan(future.flow).all()


def test_export_import_round_trip() -> None:
    h = _filled(3, 6, first=10, last=14)
    h.arrays[1][:] = 7
    h.arrays[5][2, 1] = kq.ALL_PENDING
    data = h.export()
    assert data["flow"].dtype == np.float32 and data["flow"].shape == (6, 3)
    assert np.isnan(data["flow"][h.arrays[6] == kh.NO_BUCKET]).all()
    back = History.from_export(data)
    for a, b in zip(h.arrays, back.arrays, strict=True):
        np.testing.assert_array_equal(a, b)


def test_memory_per_sensor_at_eight_days() -> None:
    h = History(100, 2304)
    assert h.bytes_per_sensor == pytest.approx(2304 * kh.BYTES_PER_CELL + 2304 * 8 / 100)
    assert kh.BYTES_PER_CELL == 12
