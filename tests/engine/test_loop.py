"""The streaming engine over the in-process bus: outputs, dead letters, recovery."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import numpy as np
import orjson
import pytest
from engine_harness import (
    check_condition_values,
    conditions_by_issue,
    engine_test_settings,
    quiet_simulator,
    small_city,
)

from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.ingest.stream import stream_simulation
from flowcast.ingest.wire.codec import encode_road_json, road_keys
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink

START = dt.datetime(2026, 10, 8, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
BUCKET_MS = 300_000


@pytest.fixture(scope="module")
def city() -> Any:
    return small_city()


def _bus(settings: Settings, partitions: int = 4) -> Bus:
    bus = Bus(default_partitions=partitions, retention=1_000_000)
    for topic in settings.topics.all_names():
        bus.create_topic(topic)
    return bus


def _drain(bus: Bus, topic: str) -> list[Any]:
    consumer = bus.consumer(topic, group_id=f"reader-{uuid.uuid4()}",
                            auto_offset_reset="earliest")
    records: list[Any] = []
    while True:
        polled = consumer.poll(timeout_ms=50, max_records=100_000)
        if not polled:
            return records
        for batch in polled.values():
            records += batch


def _engine(city: Any, settings: Settings, bus: Bus, clock: EventClock,
            group: str = "engine") -> Engine:
    consumer = bus.consumer(group_id=group, enable_auto_commit=False,
                            auto_offset_reset="earliest")
    engine = Engine(city, settings, consumer, [BusSink(bus)], clock=clock)
    engine.subscribe()
    return engine


def _run_until_quiet(engine: Engine, polls: int = 400) -> None:
    quiet = 0
    for _ in range(polls):
        if engine.step().records == 0:
            quiet += 1
            if quiet >= 3:
                return
        else:
            quiet = 0


def _stream(city: Any, settings: Settings, bus: Bus, hours: float,
            start: dt.datetime = START) -> int:
    sim = quiet_simulator(city, start)
    stats = stream_simulation(sim, BusSink(bus), start + dt.timedelta(hours=hours), 0.0,
                              "json", settings)
    return stats.readings


def test_every_segment_has_an_output_for_every_closed_bucket(city: Any) -> None:
    settings = engine_test_settings(Settings())
    bus = _bus(settings)
    _stream(city, settings, bus, hours=2)
    end_ms = int((START + dt.timedelta(hours=2)).timestamp() * 1000)
    clock = EventClock(end_ms)
    engine = _engine(city, settings, bus, clock)
    _run_until_quiet(engine)
    clock.ms = end_ms + 10 * 60_000  # the city falls silent; the wall clock closes the rest
    engine.step()
    engine.step()
    messages = conditions_by_issue(_drain(bus, settings.topics.road_conditions))
    expected_issues = set(range(int(START.timestamp() * 1000) + BUCKET_MS, end_ms + 1,
                                BUCKET_MS))
    assert expected_issues <= set(messages)
    for issued_at in expected_issues:
        assert set(messages[issued_at]) == set(city.segment_ids.tolist()), issued_at
    check_condition_values({k: messages[k] for k in expected_issues}, city)
    spots = conditions_by_issue(_drain(bus, settings.topics.spot_forecasts))
    spot_issues = set(range(int(START.timestamp() * 1000) + 900_000, end_ms + 1, 900_000))
    assert spot_issues <= set(spots)
    for issued_at in spot_issues:
        assert set(spots[issued_at]) == set(city.spot_ids.tolist())
        for raw in spots[issued_at].values():
            m = orjson.loads(raw)
            assert m["now"]["visitors"] >= 0
            assert len(m["forecast"]) == len(settings.engine.spot_horizons_min)
    assert engine.ready.is_set()
    assert _drain(bus, settings.topics.deadletter) == []


def _bad_records(city: Any, rng: np.random.Generator, ts_ms: int) -> list[tuple[bytes, bytes, str]]:
    """(key, value, expected reason) of one bad reading of each kind."""
    sensor = str(city.sensor_ids[0])
    region = str(city.regions[city.sensor_region[0]]).encode()
    return [
        (region, b"{not json", "undecodable"),
        (region, orjson.dumps({"ts": ts_ms, "flow": 3}), "missing_field"),
        (region, orjson.dumps({"sensor": "NOPE", "ts": ts_ms, "flow": 3}), "unknown_sensor"),
        (region, orjson.dumps({"sensor": sensor, "ts": "yesterday", "flow": 3}),
         "bad_timestamp"),
        (region, orjson.dumps({"sensor": sensor, "ts": ts_ms, "occupancy": 1.7}),
         "out_of_range"),
        (region, orjson.dumps({"sensor": sensor, "ts": ts_ms + 86_400_000, "flow": 1}),
         "future_timestamp"),
    ][int(rng.integers(0, 6))]


def test_bad_input_goes_to_dead_letters_and_good_input_is_kept(city: Any) -> None:
    settings = engine_test_settings(Settings())
    bus = _bus(settings)
    sim = quiet_simulator(city, START)
    producer = bus.producer()
    rng = np.random.default_rng(0)
    good = 0
    expected: dict[str, int] = {}
    for ts_ms, road, _spots in sim.batches(START + dt.timedelta(hours=1)):
        values = encode_road_json(road, city)
        keys = road_keys(road, city)
        for key, value in zip(keys, values, strict=True):
            producer.send(settings.topics.road_readings, value=value, key=key, timestamp_ms=ts_ms)
            good += 1
            if rng.random() < 0.1:  # a bad reading beside one in ten good ones
                bad_key, bad_value, reason = _bad_records(city, rng, ts_ms)
                producer.send(settings.topics.road_readings, value=bad_value, key=bad_key,
                              timestamp_ms=ts_ms)
                expected[reason] = expected.get(reason, 0) + 1
    end_ms = int((START + dt.timedelta(hours=1)).timestamp() * 1000)
    engine = _engine(city, settings, bus, EventClock(end_ms))
    _run_until_quiet(engine)
    letters = _drain(bus, settings.topics.deadletter)
    got: dict[str, int] = {}
    for record in letters:
        headers = dict(record.headers)
        got[headers["flowcast-reason"].decode()] = got.get(
            headers["flowcast-reason"].decode(), 0) + 1
        assert headers["flowcast-origin-topic"] == settings.topics.road_readings.encode()
        int(headers["flowcast-origin-offset"])
        int(headers["flowcast-origin-partition"])
    assert got == expected
    assert engine.metrics.counter("flowcast_readings_total", kind="road") == good + expected.get(
        "future_timestamp", 0)
    accepted = sum(w.state.totals["accepted"] for w in engine.workers.values()
                   if w.state is not None and w.kind == "road")
    assert accepted == good  # every good reading is in the buckets
    messages = conditions_by_issue(_drain(bus, settings.topics.road_conditions))
    assert len(messages) >= 11
    assert all(len(v) == city.n_segments for v in messages.values())


def test_restart_rebuilds_state_and_loses_no_output(city: Any) -> None:
    settings = engine_test_settings(Settings())
    bus = _bus(settings)
    _stream(city, settings, bus, hours=2)
    end_ms = int((START + dt.timedelta(hours=2)).timestamp() * 1000)
    clock = EventClock(end_ms)
    first = _engine(city, settings, bus, clock)
    for _ in range(6):  # part of the stream, then the process dies without closing
        first.step()
    published = len(_drain(bus, settings.topics.road_conditions))
    assert published > 0
    first.consumer.close()  # the bus forgets the member, as the broker does after a crash
    second = _engine(city, settings, bus, clock)
    _run_until_quiet(second)
    clock.ms = end_ms + 10 * 60_000
    second.step()
    second.step()
    records = _drain(bus, settings.topics.road_conditions)
    messages = conditions_by_issue(records)
    expected_issues = set(range(int(START.timestamp() * 1000) + BUCKET_MS, end_ms + 1,
                                BUCKET_MS))
    for issued_at in expected_issues:
        assert set(messages[issued_at]) == set(city.segment_ids.tolist()), issued_at
    # repeats are allowed and identical: same key and issue time -> same bytes
    seen: dict[tuple[bytes, int], bytes] = {}
    for record in records:
        issued = orjson.loads(record.value)["issued_at"]
        previous = seen.setdefault((record.key, issued), record.value)
        assert previous == record.value


class _SlowClock(EventClock):
    """A wall clock that moves ``tick_ms`` every time the engine reads it: a slow engine."""

    def __init__(self, now_ms: int, tick_ms: int) -> None:
        super().__init__(now_ms)
        self.tick_ms = tick_ms

    def now_ms(self) -> int:
        self.ms += self.tick_ms
        return self.ms


def _conditions_after_backlog(city: Any, settings: Settings, tick_ms: int,
                              start: dt.datetime = START) -> dict[int, dict]:
    """Every road condition an engine publishes for a 2-hour backlog from ``start`` read with
    ``settings`` while its clock moves ``tick_ms`` per step, then after the city falls
    silent."""
    bus = _bus(settings)
    _stream(city, settings, bus, hours=2, start=start)
    end_ms = int((start + dt.timedelta(hours=2)).timestamp() * 1000)
    clock = _SlowClock(end_ms, tick_ms)
    engine = _engine(city, settings, bus, clock)
    _run_until_quiet(engine, polls=4000)
    clock.ms = max(clock.ms, end_ms) + 10 * 60_000  # the city falls silent
    engine.step()
    engine.step()
    return conditions_by_issue(_drain(bus, settings.topics.road_conditions))


def test_a_backlog_read_in_small_polls_gives_the_values_of_a_clean_run(city: Any) -> None:
    """A partition that is behind never has its watermark run on with the clock: the same
    input gives byte-identical conditions however slowly it is read (DESIGN.md "Time")."""
    clean = _conditions_after_backlog(city, engine_test_settings(Settings()), 0)
    # tiny polls, a 1 s idle timeout and a minute of wall clock per step: every poll leaves most
    # partitions unread, each of them "silent" by the clock but with a backlog
    starved = engine_test_settings(Settings(), poll_max_records=50)
    starved = Settings.model_validate(
        starved.model_dump() | {"time": starved.time.model_dump() | {"idle_timeout_s": 1}})
    late = _conditions_after_backlog(city, starved, 60_000)
    assert set(clean) <= set(late)
    for issued_at, by_segment in clean.items():
        assert late[issued_at] == by_segment, issued_at


def test_outputs_do_not_depend_on_how_many_buckets_one_poll_closes(city: Any) -> None:
    """At night most segments have no speed and are imputed, and a bucket's close may revise
    the imputed history of the one before. A poll that closes many buckets at once must give
    each the outputs it gets when they close one by one."""
    night = START.replace(hour=1)
    whole = _conditions_after_backlog(city, engine_test_settings(Settings()), 0, night)
    one_by_one = _conditions_after_backlog(
        city, engine_test_settings(Settings(), poll_max_records=20), 0, night)
    imputed = [orjson.loads(m)["now"]["imputed_share"] for by in whole.values()
               for m in by.values()]
    assert max(imputed) == 1.0  # the case that matters is there
    assert set(whole) == set(one_by_one)
    for issued_at, by_segment in whole.items():
        assert one_by_one[issued_at] == by_segment, issued_at
