"""The road state: city wiring, starting and closing by watermark, a stream end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowcast.city import City
from flowcast.engine.road_state import RoadState
from flowcast.engine.watermark import Watermark
from flowcast.ingest.readings import RoadBatch
from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from flowcast.kernels.quality_params import QualityParams

T0 = 1_764_000_000_000


def test_road_state_for_part_of_a_city(tiny_city: City) -> None:
    state = RoadState.for_city(tiny_city, sensors=np.array([1, 2]), history_buckets=16)
    assert state.n_sensors == 2 and state.sensors.tolist() == [1, 2]
    assert state.sp[kq.SP_LANES].tolist() == [3, 4]
    assert state.indptr.tolist() == [0, 1, 2] and state.indices.tolist() == [1, 0]
    batch = RoadBatch(np.array([0, 1, 2, 7], np.int32), np.full(4, T0, np.int64),
                      np.ones(4, np.float32), np.ones(4, np.float32), np.ones(4, np.float32))
    local = state.localize(batch)
    assert local.sensor.tolist() == [-1, 0, 1, -1]
    result = state.add(local)
    assert (result.accepted, result.invalid) == (2, 2)
    assert result.status.tolist() == [kb.INVALID, kb.ACCEPTED, kb.ACCEPTED, kb.INVALID]


def test_road_state_starts_from_its_first_batch_and_closes_by_watermark() -> None:
    state = RoadState(2, bucket_s=300, history_buckets=32, open_slots=3)
    assert state.close_until(T0).bucket_ids.size == 0  # nothing to close before any data
    ts = np.array([T0 + 10, T0 + 300_000 * 5 + 10], np.int64)  # 5 buckets apart
    batch = RoadBatch(np.zeros(2, np.int32), ts, np.ones(2, np.float32),
                      np.full(2, 0.1, np.float32), np.full(2, 50, np.float32))
    result = state.add(batch)
    b0 = T0 // 300_000
    assert state.closed_upto == b0 + 3  # the newest bucket fits the ring; the oldest does not
    assert result.status.tolist() == [kb.TOO_OLD, kb.ACCEPTED]
    closed = state.close_until(T0 + 300_000 * 6)  # ends at or before the watermark
    assert closed.bucket_ids.tolist() == [b0 + 3, b0 + 4, b0 + 5]
    assert closed.end_ms[-1] == T0 + 300_000 * 6
    assert closed.no_data.tolist() == [2, 2, 1]
    assert state.totals["closed"] == 3 and state.totals["too_old"] == 1
    with pytest.raises(RuntimeError):
        state.start(b0)


def _reference(df: pd.DataFrame, bucket_ms: int) -> pd.DataFrame:
    df = df.assign(b=df.ts // bucket_ms)
    usable = df.speed.notna() & (df.flow > 0)
    df["fw"] = np.where(usable, df.speed * df.flow, 0.0)
    df["w"] = np.where(usable, df.flow, 0.0)
    g = df.groupby(["sensor", "b"])
    out = pd.DataFrame({"flow": g.flow.sum(min_count=1), "occ": g.occupancy.mean(),
                        "fw": g.fw.sum(), "w": g.w.sum(), "vmean": g.speed.mean()})
    out["speed"] = np.where(out.w > 0, out.fw / out.w.where(out.w > 0, 1.0), out.vmean)
    return out


def test_a_late_and_shuffled_stream_ends_equal_to_the_reference() -> None:
    rng = np.random.default_rng(31)
    n, bucket_ms, minutes = 20, 300_000, 120
    # every sensor reports every 30 s; some sensors drop out for a while
    ts = T0 + np.arange(0, minutes * 60_000, 30_000)
    df = pd.DataFrame({"sensor": np.repeat(np.arange(n), len(ts)),
                       "ts": np.tile(ts, n)})
    m = len(df)
    df["flow"] = rng.integers(0, 9, m).astype(np.float32)
    df["occupancy"] = rng.uniform(0.03, 0.3, m).astype(np.float32)
    df["speed"] = rng.uniform(20, 90, m).astype(np.float32)
    df.loc[rng.random(m) < 0.1, "speed"] = np.nan
    df = df[~((df.sensor == 4) & (df.ts >= T0 + 30 * 60_000) & (df.ts < T0 + 50 * 60_000))]
    # arrival: event time plus a delay; 3% arrive 2-40 minutes late
    delay = rng.exponential(5_000, len(df)) + np.where(
        rng.random(len(df)) < 0.03, rng.uniform(120_000, 2_400_000, len(df)), 0)
    df = df.assign(arrival=df.ts + delay.astype(np.int64)).sort_values("arrival")
    state = RoadState(n, bucket_s=300, history_buckets=64, open_slots=3,
                      lanes=2.0, quality=QualityParams(stuck_buckets=0))
    wm = Watermark(allowed_lateness_ms=60_000)
    closed: list[int] = []
    statuses = []
    for _, part in df.groupby(df.arrival // 10_000):  # one poll every 10 s of arrivals
        batch = RoadBatch(part.sensor.to_numpy(np.int32), part.ts.to_numpy(np.int64),
                          part.flow.to_numpy(np.float32), part.occupancy.to_numpy(np.float32),
                          part.speed.to_numpy(np.float32))
        wm.observe(int(batch.ts_ms.max()), now_ms=int(part.arrival.max()))
        closed.extend(state.close_until(wm.value).bucket_ids.tolist())
        statuses.append(state.add(batch).status)
    closed.extend(state.close_until(wm.newest_event_ms + bucket_ms).bucket_ids.tolist())
    status = np.concatenate(statuses)
    b0 = T0 // bucket_ms
    assert closed == list(range(b0, b0 + minutes // 5))
    assert not (status == kb.AHEAD).any() and not (status == kb.TOO_OLD).any()
    assert (status == kb.CORRECTED).sum() == state.corrections.sum() > 0
    ref = _reference(df, bucket_ms)
    w = state.window(b0 + minutes // 5, minutes // 5)
    for (s, b), row in ref.iterrows():
        j = b - b0
        assert abs(w.flow[s, j] - row.flow) <= 0.0625
        assert abs(w.occupancy[s, j] - row.occ) <= 1e-4
        assert abs(w.speed[s, j] - row.speed) <= 0.02
        assert w.imputed[s, j] == 0
    gap = w.flags[4, 6:10]  # sensor 4 was silent for four buckets: imputed, never NaN
    assert (gap & kq.NO_DATA).all() and (gap & kq.IMPUTED).all()
    assert not np.isnan(w.flow).any() and not np.isnan(w.speed).any()
    # no neighbours here: carried forward for max_gap (3) buckets, then the fallback
    assert w.imputed_code(kh.FLOW)[4, 6:10].tolist() == [kh.IMP_TEMPORAL] * 3 + [kh.IMP_FALLBACK]
