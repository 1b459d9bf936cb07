"""The engine's state holders: watermark rule, city wiring, a stream end to end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from flowcast.engine.state import QualityParams, RoadState, SpotState, Watermark
from flowcast.formats.city_read import city_from_geojson
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq

T0 = 1_764_000_000_000


def test_watermark_follows_the_newest_event_minus_lateness() -> None:
    wm = Watermark(allowed_lateness_ms=60_000)
    assert wm.value is None and not wm.advance_idle(T0, 1000)
    assert wm.observe(T0 + 500_000, now_ms=T0 + 501_000) == T0 + 440_000
    assert wm.observe(T0 + 100_000, now_ms=T0 + 502_000) == T0 + 440_000  # never goes back
    assert wm.newest_event_ms == T0 + 500_000


def test_watermark_advances_with_the_wall_clock_when_idle() -> None:
    wm = Watermark(allowed_lateness_ms=60_000)
    wm.observe(T0, now_ms=T0 + 2_000)
    assert not wm.advance_idle(T0 + 20_000, idle_timeout_ms=30_000)
    assert wm.value == T0 - 60_000
    assert wm.advance_idle(T0 + 32_000, idle_timeout_ms=30_000)
    assert wm.value == T0 + 30_000 - 60_000  # event time ran on for the 30 s of silence
    assert wm.advance_idle(T0 + 602_000, idle_timeout_ms=30_000)
    assert wm.value == T0 + 600_000 - 60_000
    wm.observe(T0 + 1000, now_ms=T0 + 603_000)  # an old straggler: the watermark stays
    assert wm.value == T0 + 540_000
    assert not wm.advance_idle(T0 + 604_000, idle_timeout_ms=30_000)  # not idle any more


def test_watermark_in_a_replay_behind_real_time_moves_at_wall_clock_rate() -> None:
    wm = Watermark(allowed_lateness_ms=0)
    yesterday = T0 - 86_400_000
    wm.observe(yesterday, now_ms=T0)
    wm.advance_idle(T0 + 60_000, idle_timeout_ms=10_000)
    assert wm.value == yesterday + 60_000  # not pushed to today


def test_quality_params_vector() -> None:
    qp = QualityParams(stuck_buckets=9).to_array(900)
    assert qp.shape == (kq.N_QP,) and qp[kq.QP_STUCK_BUCKETS] == 9
    assert qp[kq.QP_BUCKETS_PER_DAY] == 96 and qp[kq.QP_BUCKET_HOURS] == 0.25
    assert qp[kq.QP_IMPUTE_MASK] == kq.DEFAULT_IMPUTE_MASK


def _feature(kind: str, fid: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, "id": fid,
                                                                   **props}}


@pytest.fixture
def city() -> Any:
    line = {"type": "LineString", "coordinates": [[110.30, 20.00], [110.31, 20.01]]}
    point = {"type": "Point", "coordinates": [110.305, 20.005]}
    seg = {"road_class": "arterial", "length_m": 800.0, "free_flow_kmh": 60.0}
    return city_from_geojson({
        "type": "FeatureCollection",
        "flowcast": {"city": "tiny", "timezone": "Asia/Shanghai"},
        "features": [
            _feature("segment", "A", line, region="R1", lanes=2, downstream=["B"], **seg),
            _feature("segment", "B", line, region="R1", lanes=3, **seg),
            _feature("segment", "C", line, region="R2", lanes=4, upstream=["B"], **seg),
            _feature("sensor", "S1", point, segment="A"),
            _feature("sensor", "S2", point, segment="B"),
            _feature("sensor", "S3", point, segment="C"),
            _feature("spot", "P1", point, capacity_instant=100, capacity_daily=500,
                     opens="09:00"),
            _feature("spot", "P2", point, capacity_instant=100, capacity_daily=500,
                     opens="07:30"),
        ],
    })


def test_road_state_for_part_of_a_city(city: Any) -> None:
    state = RoadState.for_city(city, sensors=np.array([1, 2]), history_buckets=16)
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


def test_spot_state_for_a_city_uses_local_opening_times(city: Any) -> None:
    state = SpotState.for_city(city)
    assert state.utc_offset_ms == 8 * 3_600_000
    assert state.opens_ms.tolist() == [9 * 3_600_000, 7.5 * 3_600_000]
    batch = SpotBatch(np.array([1, 5], np.int32), np.array([T0, T0], np.int64),
                      np.ones(2, np.float32), np.zeros(2, np.float32),
                      np.full(2, np.nan, np.float32))
    assert state.add(state.localize(batch)).status.tolist() == [kb.ACCEPTED, kb.INVALID]


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
