"""Closing buckets into the history against a pandas reference on random data."""

from __future__ import annotations

import numpy as np
import pytest

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
    _readings,
    _run,
    reference,
)


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
