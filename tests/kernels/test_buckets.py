"""Bucket accumulation against a pandas reference on random data."""

from __future__ import annotations

import numpy as np

from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from kernels.road_buckets import (
    B0,
    BUCKET_MS,
    N_SENSORS,
    T0,
    _assert_history_matches,
    _close,
    _qstate,
    _quality,
    _readings,
    _ro,
    _run,
    _statics,
    reference,
)


def test_accumulators_match_pandas_over_several_open_buckets() -> None:
    rng = np.random.default_rng(1)
    r = _readings(rng, 3000, n_buckets=4)
    acc, slots = kb.new_accumulators(4, N_SENSORS)
    status, counts = _run(r, B0, acc, slots)
    assert counts == (3000, 0, 0, 0) and (status == kb.ACCEPTED).all()
    ref = reference(r)
    assert sorted(slots.tolist()) == [B0, B0 + 1, B0 + 2, B0 + 3]
    for (s, b), row in ref.iterrows():
        a = acc[b % 4, s]
        assert a[kb.A_COUNT] == row["count"]
        np.testing.assert_allclose(a[kb.A_FLOW], row["flow"], rtol=1e-12)
        np.testing.assert_allclose(a[kb.A_OCC_N], row["occ_n"])
        np.testing.assert_allclose(a[kb.A_OCC_SUM] / a[kb.A_OCC_N], row["occ"], rtol=1e-9)
        np.testing.assert_allclose(a[kb.A_FW_SUM], row["fw"], rtol=1e-9)
        np.testing.assert_allclose(a[kb.A_FW_W], row["w"], rtol=1e-12)
        np.testing.assert_allclose(a[kb.A_SPD_SUM], row["vsum"], rtol=1e-9)
        np.testing.assert_allclose(a[kb.A_SPD_N], row["spd_n"])
        n, flow, occ, speed, _, _ = kb.finalize(acc, b % 4, s)
        np.testing.assert_allclose([n, flow, occ, speed],
                                   [row["count"], row["flow"], row["occ"], row["speed"]],
                                   rtol=1e-9)


def test_batch_order_does_not_change_the_sums() -> None:
    rng = np.random.default_rng(2)
    r = _readings(rng, 2000, n_buckets=3)
    acc1, slots1 = kb.new_accumulators(3, N_SENSORS)
    _run(r, B0, acc1, slots1)
    perm = rng.permutation(2000)
    acc2, slots2 = kb.new_accumulators(3, N_SENSORS)
    _run({k: v[perm] for k, v in r.items()}, B0, acc2, slots2)
    np.testing.assert_allclose(acc1, acc2, rtol=1e-12)


def test_speed_falls_back_to_the_mean_without_usable_flow() -> None:
    acc, slots = kb.new_accumulators(2, 2)
    r = {"sensor": np.array([0, 0, 1, 1, 1], np.int32),
         "ts_ms": np.full(5, T0, np.int64),
         "flow": np.array([np.nan, np.nan, 0, 10, 30], np.float32),
         "occupancy": np.full(5, np.nan, np.float32),
         "speed": np.array([40, 60, 99, 50, np.nan], np.float32)}
    _run(r, B0, acc, slots)
    n0, flow0, occ0, speed0, _, code0 = kb.finalize(acc, B0 % 2, 0)
    assert (n0, speed0) == (2, 50.0) and np.isnan(flow0) and np.isnan(occ0)
    assert code0 == kh.SW_ARITH | 2
    n1, flow1, _, speed1, _, code1 = kb.finalize(acc, B0 % 2, 1)
    # the zero-flow reading's 99 km/h and the speedless 30 vehicles carry no speed weight
    assert (n1, flow1, speed1) == (3, 40.0, 50.0) and code1 == 10 * kh.WEIGHT_SCALE


def test_statuses_late_ahead_invalid() -> None:
    acc, slots = kb.new_accumulators(3, N_SENSORS)
    closed = B0 + 10
    ts = np.array([closed - 1, closed, closed + 2, closed + 3, closed + 50, closed], np.int64)
    r = {"sensor": np.array([0, 1, 2, 3, 4, N_SENSORS], np.int32),
         "ts_ms": ts * BUCKET_MS + 1234,
         "flow": np.ones(6, np.float32), "occupancy": np.ones(6, np.float32) / 10,
         "speed": np.full(6, 50, np.float32)}
    status, counts = _run(r, closed, acc, slots)
    assert status.tolist() == [kb.LATE, kb.ACCEPTED, kb.ACCEPTED, kb.AHEAD, kb.AHEAD, kb.INVALID]
    assert counts == (2, 1, 2, 1)
    assert acc[:, :, kb.A_COUNT].sum() == 2


def test_negative_epoch_times_use_floor_buckets() -> None:
    acc, slots = kb.new_accumulators(2, 1)
    r = {"sensor": np.zeros(2, np.int32), "ts_ms": np.array([-1, -BUCKET_MS], np.int64),
         "flow": np.ones(2, np.float32), "occupancy": np.ones(2, np.float32),
         "speed": np.ones(2, np.float32)}
    status, _ = _run(r, -1, acc, slots)
    assert (status == kb.ACCEPTED).all() and slots[(-1) % 2] == -1


def test_late_readings_correct_history_exactly() -> None:
    rng = np.random.default_rng(5)
    r = _readings(rng, 3000, n_buckets=6)
    late = rng.random(3000) < 0.15
    late |= (r["sensor"] == 3) & (r["ts_ms"] // BUCKET_MS == B0 + 1)  # a whole cell arrives late
    on_time = {k: v[~late] for k, v in r.items()}
    late_r = {k: v[late] for k, v in r.items()}
    acc, slots = kb.new_accumulators(6, N_SENSORS)
    _run(on_time, B0, acc, slots)
    hist = kh.new_history(N_SENSORS, 32)
    qstate = _qstate()
    _close(acc, slots, B0, B0 + 6, hist, qstate)
    assert hist[4][(B0 + 1) % 32, 3] & kq.NO_DATA
    status, counts = _run(late_r, B0 + 6, acc, slots)
    assert counts[1] == late.sum() and (status == kb.LATE).all()
    sp, indptr, indices = _statics()
    corrections = np.zeros(N_SENSORS, np.int64)
    n_ok, n_old = kb.correct_late(*(_ro(late_r[k]) for k in ("sensor", "ts_ms", "flow",
                                                              "occupancy", "speed")),
                                  status, BUCKET_MS, hist, sp, indptr, indices, _quality(),
                                  qstate[2], corrections)
    assert (n_ok, n_old) == (late.sum(), 0) and (status == kb.CORRECTED).all()
    assert corrections.tolist() == np.bincount(late_r["sensor"], minlength=N_SENSORS).tolist()
    _assert_history_matches(hist, reference(r))
    cell = (B0 + 1) % 32, 3
    assert not hist[4][cell] & kq.NO_DATA and hist[4][cell] & kq.CORRECTED


def test_late_reading_beyond_the_span_is_too_old() -> None:
    acc, slots = kb.new_accumulators(2, 1)
    hist = kh.new_history(1, 4)
    _close(acc, slots, B0, B0 + 10, hist)
    ts = np.array([B0 + 5, B0 + 9], np.int64) * BUCKET_MS
    status = np.full(2, kb.LATE, np.int8)
    sp, indptr, indices = _statics(1)
    out = kb.correct_late(_ro(np.zeros(2, np.int32)), _ro(ts), _ro(np.ones(2, np.float32)),
                          _ro(np.full(2, 0.1, np.float32)), _ro(np.full(2, 50, np.float32)),
                          status,
                          BUCKET_MS, hist, sp, indptr, indices, _quality(),
                          np.full((1, 3), np.nan, np.float32), np.zeros(1, np.int64))
    assert out == (1, 1) and status.tolist() == [kb.TOO_OLD, kb.CORRECTED]
