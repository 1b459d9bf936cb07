"""The forecast cycle: segment averaging, the default baseline, levels and messages."""

from __future__ import annotations

import numpy as np
import orjson

from flowcast.config import Settings
from flowcast.engine.road_cycle import RoadCycle
from flowcast.engine.road_state import RoadState
from flowcast.ingest.readings import RoadBatch
from flowcast.ingest.simulator import generate_city
from flowcast.publish.roads.conditions import road_condition_messages

BUCKET_MS = 300_000
DAY = 288
B0 = 1_790_000_000_000 // BUCKET_MS // DAY * DAY  # a UTC midnight bucket


def _profile(bucket: np.ndarray) -> np.ndarray:
    """Share of free-flow speed by time of day: 0.9, down to 0.45 around bucket 100."""
    tod = bucket % DAY
    return (0.9 - 0.45 * np.exp(-(((tod - 100) / 12.0) ** 2))).astype(np.float32)


def _fed_state(days: float) -> tuple[RoadState, RoadCycle, int]:
    city = generate_city(8, 1, seed=2)
    state = RoadState.for_city(city, bucket_s=300, history_buckets=DAY * 8)
    cycle = RoadCycle(city, state.sensors, Settings())
    n = city.n_sensors
    free_flow = city.segment_free_flow_kmh[city.sensor_segment]
    last = B0 + int(days * DAY)
    state.start(B0)
    for b in range(B0, last + 1):
        ts = np.full(n, b * BUCKET_MS + 1000, np.int64)
        speed = (free_flow * _profile(np.array([b]))[0]).astype(np.float32)
        state.add(RoadBatch(np.arange(n, dtype=np.int32), ts, np.full(n, 20, np.float32),
                            np.full(n, 0.1, np.float32), speed))
        state.close(b + 1)
    return state, cycle, last


def test_default_baseline_follows_yesterdays_profile() -> None:
    state, cycle, last = _fed_state(days=1 + 88 / DAY)  # now = bucket 88 of day 2
    c = cycle.conditions(state, last)
    free_flow = cycle.free_flow
    now = free_flow * _profile(np.array([last]))[0]
    expected = free_flow[:, None] * _profile(last + cycle.horizons)[None, :]
    np.testing.assert_allclose(c.speed, now, atol=0.02)
    np.testing.assert_allclose(c.forecast_speed, expected, atol=0.05)
    assert cycle.model == "baseline:last_value+daily_profile"
    assert (c.forecast_speed[:, 2] < c.speed).all()  # heading into the dip


def test_without_a_day_of_history_it_is_the_last_value() -> None:
    state, cycle, last = _fed_state(days=0.3)
    c = cycle.conditions(state, last)
    np.testing.assert_allclose(c.forecast_speed, np.repeat(c.speed[:, None], 4, axis=1),
                               atol=0.01)


def test_messages_carry_every_horizon_and_the_issue_time() -> None:
    state, cycle, last = _fed_state(days=0.1)
    messages = cycle.run(state, last)
    assert len(messages) == len(cycle.segment_ids)
    key, value = messages[0]
    body = orjson.loads(value)
    assert key.decode() == body["segment"]
    assert body["issued_at"] == (last + 1) * BUCKET_MS
    assert [f["horizon_min"] for f in body["forecast"]] == [15, 30, 45, 60]
    assert 1 <= body["now"]["level"] <= 5 and body["now"]["travel_time_s"] > 0


def test_baseline_forecasts_carry_a_trend_and_no_confidence() -> None:
    state, cycle, last = _fed_state(days=1 + 88 / DAY)  # heading into the daily dip
    c = cycle.conditions(state, last)
    assert c.forecast_trend is not None and c.forecast_trend.shape == c.forecast_speed.shape
    assert c.forecast_confidence is None and c.forecast_confidence_score is None
    worse = c.forecast_level > c.level[:, None]
    assert (c.forecast_trend[worse] == 1).all()
    slower = c.forecast_travel_time_s > c.travel_time_s[:, None] * 1.2
    assert slower.any() and (c.forecast_trend[slower] == 1).all()
    body = orjson.loads(road_condition_messages(c)[0][1])
    assert body["trend"] == body["forecast"][0]["trend"]
    assert {f["confidence"] for f in body["forecast"]} == {None}
