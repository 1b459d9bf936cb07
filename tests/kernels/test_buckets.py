"""Bucket accumulation and closing against a pandas reference on random data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq

BUCKET_MS = 300_000
T0 = 1_764_000_000_000  # a multiple of the bucket: bucket ids start at T0 // BUCKET_MS
B0 = T0 // BUCKET_MS
N_SENSORS = 7


def _readings(rng: np.random.Generator, n: int, n_buckets: int, nan_share: float = 0.2
              ) -> dict[str, np.ndarray]:
    """Random road readings over ``n_buckets`` buckets from T0: integer flows (vehicle counts,
    some zero), NaNs in every field, a few speed-only rows."""
    flow = rng.integers(0, 12, n).astype(np.float32)
    occ = rng.uniform(0.02, 0.4, n).astype(np.float32)
    speed = rng.uniform(15, 90, n).astype(np.float32)
    for x in (flow, occ, speed):
        x[rng.random(n) < nan_share] = np.nan
    return {
        "sensor": rng.integers(0, N_SENSORS, n).astype(np.int32),
        "ts_ms": (T0 + rng.integers(0, n_buckets * BUCKET_MS, n)).astype(np.int64),
        "flow": flow, "occupancy": occ, "speed": speed,
    }


def reference(r: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per (sensor, bucket): count, flow sum (NaN without flows), occupancy mean and speed
    (flow-weighted over readings with speed and flow > 0, else the mean of the speeds)."""
    df = pd.DataFrame({"s": r["sensor"], "b": r["ts_ms"] // BUCKET_MS,
                       "f": r["flow"].astype(np.float64), "o": r["occupancy"].astype(np.float64),
                       "v": r["speed"].astype(np.float64)})
    usable = df.v.notna() & (df.f > 0)
    df["fw"] = np.where(usable, df.v * df.f, 0.0)
    df["w"] = np.where(usable, df.f, 0.0)
    g = df.groupby(["s", "b"])
    out = pd.DataFrame({"count": g.size(), "flow": g.f.sum(min_count=1), "occ": g.o.mean(),
                        "fw": g.fw.sum(), "w": g.w.sum(), "vmean": g.v.mean(),
                        "occ_n": g.o.count(), "spd_n": g.v.count(), "vsum": g.v.sum()})
    out["speed"] = np.where(out.w > 0, out.fw / out.w.where(out.w > 0, 1.0), out.vmean)
    return out


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only view: the array type RoadState hands the kernels (one compile)."""
    v = a.view()
    v.flags.writeable = False
    return v


def _run(r: dict[str, np.ndarray], closed_upto: int, acc: np.ndarray, slots: np.ndarray
         ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    status = np.empty(len(r["sensor"]), np.int8)
    counts = kb.accumulate(_ro(r["sensor"]), _ro(r["ts_ms"]), _ro(r["flow"]),
                           _ro(r["occupancy"]), _ro(r["speed"]), BUCKET_MS, closed_upto, acc,
                           slots, status)
    return status, counts


def _quality() -> np.ndarray:
    from flowcast.engine.state import QualityParams

    return QualityParams().to_array(BUCKET_MS // 1000)


def _statics(n: int = N_SENSORS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # the random buckets hold ~100 readings: a huge capacity keeps them clear of the
    # inconsistency check, so that this file tests aggregation, not quality
    sp = np.empty((kq.N_SP, n), np.float32)
    sp[kq.SP_EXPECTED] = 10
    sp[kq.SP_LANES] = 2
    sp[kq.SP_CAPACITY] = 1e6
    sp[kq.SP_FREE_FLOW] = 60
    return sp, np.zeros(n + 1, np.int64), np.empty(0, np.int32)


def _qstate(n: int = N_SENSORS) -> tuple[np.ndarray, ...]:
    return (np.full((n, 3), np.nan, np.float32), np.zeros(n, np.int32),
            np.full((n, 3), np.nan, np.float32), np.zeros(n, np.float32))


def _close(acc: np.ndarray, slots: np.ndarray, closed: int, up_to: int, hist: tuple,
           qstate: tuple | None = None) -> np.ndarray:
    sp, indptr, indices = _statics(acc.shape[1])
    n = up_to - closed
    ids, nd, ni = (np.empty(n, np.int64) for _ in range(3))
    k = kb.close_buckets(acc, slots, closed, up_to, hist, sp, indptr, indices, _quality(),
                         qstate or _qstate(acc.shape[1]), ids, nd, ni)
    return ids[:k]


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


def test_close_writes_every_sensor_and_empty_buckets() -> None:
    rng = np.random.default_rng(3)
    r = _readings(rng, 400, n_buckets=2)
    r["sensor"][r["sensor"] == 6] = 5  # sensor 6 never reports
    acc, slots = kb.new_accumulators(4, N_SENSORS)
    _run(r, B0, acc, slots)
    hist = kh.new_history(N_SENSORS, 16)
    ids = _close(acc, slots, B0, B0 + 6, hist)  # buckets 2..5 had no readings at all
    assert ids.tolist() == list(range(B0, B0 + 6))
    assert (slots == kh.NO_BUCKET).all() and acc[:, :, kb.A_COUNT].sum() == 0
    assert np.isnan(acc[:, :, kb.A_FLOW]).all()
    flags, count, col_bucket = hist[4], hist[2], hist[6]
    cols = ids % 16
    assert col_bucket[cols].tolist() == ids.tolist()
    ref = reference(r)
    for j, b in enumerate(ids):
        for s in range(N_SENSORS):
            if (s, b) in ref.index:
                assert count[cols[j], s] == ref.loc[(s, b), "count"]
                assert not flags[cols[j], s] & kq.NO_DATA
            else:
                assert count[cols[j], s] == 0
                assert flags[cols[j], s] & kq.NO_DATA and flags[cols[j], s] & kq.IMPUTED


def test_closed_values_match_reference_within_fixed_point() -> None:
    rng = np.random.default_rng(4)
    r = _readings(rng, 2000, n_buckets=3)
    acc, slots = kb.new_accumulators(3, N_SENSORS)
    _run(r, B0, acc, slots)
    hist = kh.new_history(N_SENSORS, 8)
    _close(acc, slots, B0, B0 + 3, hist)
    _assert_history_matches(hist, reference(r))


def _assert_history_matches(hist: tuple, ref: pd.DataFrame) -> None:
    """Every raw value in the reference is in the history, to the fixed-point step."""
    vals, imp = hist[0], hist[5]
    n_cols = hist[6].shape[0]
    tolerance = {kh.FLOW: 0.5 / kh.FLOW_SCALE, kh.OCC: 1e-4, kh.SPEED: 0.02}
    for (s, b), row in ref.iterrows():
        col = b % n_cols
        assert hist[6][col] == b
        assert hist[2][col, s] == min(row["count"], 255)
        for v, name in ((kh.FLOW, "flow"), (kh.OCC, "occ"), (kh.SPEED, "speed")):
            code = (int(imp[col, s]) >> (2 * v)) & 3
            if np.isnan(row[name]):
                assert code != kh.IMP_RAW, (s, b, name)
            else:
                assert code == kh.IMP_RAW, (s, b, name)
                got = vals[v, col, s] / kh.var_scale(v)
                assert abs(got - row[name]) <= tolerance[v], (s, b, name, got, row[name])


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


def test_a_gap_longer_than_the_history_writes_only_its_end() -> None:
    acc, slots = kb.new_accumulators(2, 2)
    r = {"sensor": np.zeros(1, np.int32), "ts_ms": np.array([T0], np.int64),
         "flow": np.ones(1, np.float32), "occupancy": np.ones(1, np.float32) / 10,
         "speed": np.full(1, 50, np.float32)}
    _run(r, B0, acc, slots)
    hist = kh.new_history(2, 8)
    ids = _close(acc, slots, B0, B0 + 100, hist)
    assert ids.tolist() == list(range(B0 + 92, B0 + 100))
    assert (slots == kh.NO_BUCKET).all() and acc[:, :, kb.A_COUNT].sum() == 0
    assert sorted(hist[6].tolist()) == ids.tolist()


@pytest.mark.parametrize("n_slots", [1, 5])
def test_ring_reuses_slots_after_closing(n_slots: int) -> None:
    rng = np.random.default_rng(6)
    hist = kh.new_history(N_SENSORS, 64)
    acc, slots = kb.new_accumulators(n_slots, N_SENSORS)
    qstate = _qstate()
    everything = []
    closed = B0
    for step in range(12):
        r = _readings(rng, 200, n_buckets=1)
        r["ts_ms"] += step * BUCKET_MS
        status, _ = _run(r, closed, acc, slots)
        assert (status == kb.ACCEPTED).all()
        everything.append(r)
        _close(acc, slots, closed, closed + 1, hist, qstate)
        closed += 1
    allr = {k: np.concatenate([e[k] for e in everything]) for k in everything[0]}
    _assert_history_matches(hist, reference(allr))
