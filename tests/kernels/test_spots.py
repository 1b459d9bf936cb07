"""Scenic-spot arrivals and visitors inside against a plain reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowcast.engine.spot_state import SpotState
from flowcast.ingest.readings import SpotBatch
from flowcast.kernels import buckets as kb
from flowcast.kernels import spots as ks

BUCKET_MS = 900_000
OFFSET_MIN = 480  # UTC+8
DAY0 = 1_764_000_000_000  # 2025-11-24T16:00Z: local midnight in UTC+8
B0 = DAY0 // BUCKET_MS
OPENS = np.array([480, 450, 490])  # 08:00, 07:30, 08:10 (mid-bucket)


def _random_readings(rng: np.random.Generator, n_buckets: int) -> pd.DataFrame:
    """Minute gate readings (entries busier in the morning, exits in the afternoon) plus a few
    head counts, with a few readings sharing an instant."""
    rows = []
    for k in range(len(OPENS)):
        minutes = np.sort(rng.choice(n_buckets * 15, n_buckets * 6, replace=False))
        ts = DAY0 + minutes * 60_000 + rng.choice([0, 0, 0, 59_999], len(minutes))
        hour = (minutes // 60) % 24
        entries = rng.poisson(np.where(hour < 13, 30, 8)).astype(np.float32)
        exits = rng.poisson(np.where(hour < 13, 8, 35)).astype(np.float32)
        entries[rng.random(len(ts)) < 0.05] = np.nan
        rows.append(pd.DataFrame({"spot": k, "ts": ts, "entries": entries, "exits": exits,
                                  "count": np.nan}))
        heads = rng.choice(ts, 6, replace=False)  # some at the same instant as a gate reading
        rows.append(pd.DataFrame({"spot": k, "ts": heads, "entries": np.nan, "exits": np.nan,
                                  "count": rng.integers(0, 900, 6).astype(np.float32)}))
    return pd.concat(rows, ignore_index=True)


def reference(df: pd.DataFrame, first: int, last: int) -> dict[str, np.ndarray]:
    """Per bucket ``first..last`` and spot: arrivals, exits, visitors at the end, peak.

    Visitors run over events in time order; at one instant: the gate readings' summed net
    (clamped at 0 once), then the opening reset, then the largest head count."""
    n_spots = len(OPENS)
    shape = (last - first + 1, n_spots)
    out = {name: np.zeros(shape) for name in ("arrivals", "exits", "visitors", "peak")}
    for k in range(n_spots):
        d = df[df.spot == k]
        gates = d[d["count"].isna()].groupby("ts")[["entries", "exits"]].sum()
        heads = d[d["count"].notna()].groupby("ts")["count"].max()
        opens = [DAY0 + day * 86_400_000 + int(OPENS[k]) * 60_000 - 86_400_000
                 for day in range(5)]
        events = ([(t, 0, float(r.entries - r.exits)) for t, r in gates.iterrows()]
                  + [(t, 1, 0.0) for t in opens] + [(t, 2, float(c)) for t, c in heads.items()])
        events.sort()
        v, e = 0.0, 0
        for j, b in enumerate(range(first, last + 1)):
            end = (b + 1) * BUCKET_MS
            while e < len(events) and events[e][0] < b * BUCKET_MS:
                v = _apply(v, events[e])
                e += 1
            top = v
            while e < len(events) and events[e][0] < end:
                v = _apply(v, events[e])
                top = max(top, v)
                e += 1
            out["visitors"][j, k] = v
            out["peak"][j, k] = top
        in_bucket = d.assign(b=d.ts // BUCKET_MS).groupby("b")[["entries", "exits"]].sum()
        for b, r in in_bucket.iterrows():
            if first <= b <= last:
                out["arrivals"][b - first, k] = r.entries
                out["exits"][b - first, k] = r.exits
    return out


def _apply(v: float, event: tuple[int, int, float]) -> float:
    _, kind, x = event
    if kind == 0:
        return max(0.0, v + x)
    return x  # reset (0) or head count


def _batch(df: pd.DataFrame) -> SpotBatch:
    return SpotBatch(df.spot.to_numpy(np.int32), df.ts.to_numpy(np.int64),
                     df.entries.to_numpy(np.float32), df.exits.to_numpy(np.float32),
                     df["count"].to_numpy(np.float32))


def _stream(df: pd.DataFrame, n_buckets: int, rng: np.random.Generator) -> list:
    """Feed two buckets ahead of the close, shuffled, and close one bucket at a time."""
    state = SpotState(len(OPENS), opens_min=OPENS, utc_offset_min=OFFSET_MIN)
    state.start(B0)
    bucket = df.ts.to_numpy() // BUCKET_MS
    closed = []
    for b in range(B0 - 2, B0 + n_buckets):
        part = df[bucket == b + 2]
        result = state.add(_batch(part.iloc[rng.permutation(len(part))]))
        assert result.accepted == len(part)
        if b >= B0:
            closed.append(state.close(b + 1))
    return closed


def test_visitors_and_arrivals_match_the_reference_in_any_arrival_order() -> None:
    rng = np.random.default_rng(21)
    n_buckets = 2 * 96
    df = _random_readings(rng, n_buckets)
    closed = _stream(df, n_buckets, rng)
    again = _stream(df, n_buckets, np.random.default_rng(99))
    ref = reference(df, B0, B0 + n_buckets - 1)
    for name in ("arrivals", "exits", "visitors", "peak"):
        got = np.concatenate([getattr(c, name) for c in closed])
        other = np.concatenate([getattr(c, name) for c in again])
        np.testing.assert_array_equal(got, other)
        np.testing.assert_allclose(got, ref[name], rtol=1e-6, err_msg=name)
    flags = np.concatenate([c.flags for c in closed])
    assert ((flags & ks.SPOT_RESET) > 0).sum(axis=0).tolist() == [2, 2, 2]  # two mornings
    assert (flags & ks.SPOT_HEAD_COUNT).any() and (flags & ks.SPOT_CLAMPED).any()


def _one(state: SpotState, spot: int, ts: int, entries: float = np.nan, exits: float = np.nan,
         count: float = np.nan) -> None:
    batch = SpotBatch(np.array([spot], np.int32), np.array([ts], np.int64),
                      np.array([entries], np.float32), np.array([exits], np.float32),
                      np.array([count], np.float32))
    assert state.add(batch).accepted == 1


def _at(hh: int, mm: int, ss: int = 0) -> int:
    return DAY0 + ((hh * 60 + mm) * 60 + ss) * 1000


def test_reset_at_opening_each_local_day() -> None:
    state = SpotState(1, opens_min=480, utc_offset_min=OFFSET_MIN, open_slots=8)
    state.start(_at(7, 0) // BUCKET_MS)
    _one(state, 0, _at(7, 20), entries=50, exits=2)  # staff and early birds, before opening
    _one(state, 0, _at(8, 0), entries=4)  # the gate interval ending at 08:00 is before opening
    _one(state, 0, _at(8, 5), entries=10, exits=1)
    closed = state.close(_at(8, 30) // BUCKET_MS)  # 07:00 .. 08:15
    assert closed.visitors[:, 0].tolist() == [0, 48, 48, 48, 9, 9]
    assert closed.arrivals[:, 0].tolist() == [0, 50, 0, 0, 14, 0]
    nd = ks.SPOT_NO_DATA
    assert closed.flags[:, 0].tolist() == [nd, 0, nd, nd, ks.SPOT_RESET, nd]
    assert closed.peak[4, 0] == 52  # 48 + 4 at 08:00, just before the reset
    _one(state, 0, _at(8, 40), entries=1)
    next_day = state.close((_at(8, 0) + 86_400_000) // BUCKET_MS + 1)
    assert next_day.visitors[-2:, 0].tolist() == [10, 0]
    assert next_day.flags[-1, 0] == ks.SPOT_RESET | ks.SPOT_NO_DATA


def test_head_count_sets_visitors_and_gates_continue_from_it() -> None:
    state = SpotState(1, opens_min=480, utc_offset_min=OFFSET_MIN)
    state.start(_at(10, 0) // BUCKET_MS)
    _one(state, 0, _at(10, 12), entries=7, exits=2)  # after the head count, out of order
    _one(state, 0, _at(10, 1), entries=30)
    _one(state, 0, _at(10, 5), count=1000)
    _one(state, 0, _at(10, 5), entries=99)  # same instant: the head count already has them
    closed = state.close(_at(10, 15) // BUCKET_MS)
    assert closed.visitors[0, 0] == 1005 and closed.peak[0, 0] == 1005
    assert closed.arrivals[0, 0] == 136 and closed.count[0, 0] == 4
    assert closed.flags[0, 0] == ks.SPOT_HEAD_COUNT


def test_visitors_never_go_negative() -> None:
    state = SpotState(1, opens_min=480, utc_offset_min=OFFSET_MIN)
    state.start(_at(17, 0) // BUCKET_MS)
    _one(state, 0, _at(17, 1), entries=5)
    _one(state, 0, _at(17, 2), exits=20)
    _one(state, 0, _at(17, 3), entries=3)
    closed = state.close(_at(17, 15) // BUCKET_MS)
    assert closed.visitors[0, 0] == 3 and closed.flags[0, 0] == ks.SPOT_CLAMPED


def test_statuses_and_window() -> None:
    state = SpotState(2, opens_min=480, utc_offset_min=OFFSET_MIN, open_slots=2,
                      history_buckets=4)
    state.start(_at(9, 0) // BUCKET_MS)
    ts = np.array([_at(9, 1), _at(8, 59), _at(9, 31), _at(9, 2)], np.int64)
    batch = SpotBatch(np.array([0, 0, 1, 2], np.int32), ts, np.ones(4, np.float32),
                      np.zeros(4, np.float32), np.full(4, np.nan, np.float32))
    result = state.add(batch)
    assert result.status.tolist() == [kb.ACCEPTED, kb.TOO_OLD, kb.AHEAD, kb.INVALID]
    assert (result.accepted, result.too_old, result.ahead, result.invalid) == (1, 1, 1, 1)
    state.close(_at(10, 30) // BUCKET_MS)  # six buckets into a ring of four
    w = state.window(_at(10, 30) // BUCKET_MS, 6)
    assert np.isnan(w.arrivals[:, :2]).all() and (w.flags[:, :2] == ks.SPOT_NO_DATA).all()
    assert w.visitors[0, 2:].tolist() == [1, 1, 1, 1] and w.arrivals[0, 2:].sum() == 0


def test_pending_buffer_grows_and_keeps_open_readings() -> None:
    state = SpotState(1, opens_min=480, utc_offset_min=OFFSET_MIN, open_slots=3)
    state.start(_at(12, 0) // BUCKET_MS)
    n = 5000
    ts = _at(12, 0) + np.arange(n, dtype=np.int64) * (3 * BUCKET_MS // n)
    state.add(SpotBatch(np.zeros(n, np.int32), ts, np.ones(n, np.float32),
                        np.zeros(n, np.float32), np.full(n, np.nan, np.float32)))
    first = state.close(_at(12, 15) // BUCKET_MS)
    assert state.n_pending == n - first.count[0, 0]
    rest = state.close(_at(12, 45) // BUCKET_MS)
    assert first.visitors[0, 0] + rest.arrivals.sum() == n == rest.visitors[-1, 0]


def test_a_gap_longer_than_the_history_fast_forwards_with_the_daily_reset() -> None:
    state = SpotState(1, opens_min=480, utc_offset_min=OFFSET_MIN, history_buckets=8)
    state.start(_at(10, 0) // BUCKET_MS)
    _one(state, 0, _at(10, 1), entries=40)
    up_to = (_at(7, 0) + 3 * 86_400_000) // BUCKET_MS  # three days of silence, to 07:00
    closed = state.close(up_to)
    assert closed.bucket_ids.tolist() == list(range(up_to - 8, up_to))
    assert (closed.visitors == 0).all() and (closed.flags == ks.SPOT_NO_DATA).all()
    assert state.n_pending == 0 and state.last_reset[0] == _at(8, 0) + 2 * 86_400_000
