"""The engine as a real process (`flowcast run`) against the real broker: end to end, the
pages it serves, and bad input beside good. (Kills, failover, broker outages, pauses:
tests/faults/.)"""

from __future__ import annotations

import datetime as dt
import re
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_harness import check_condition_values, conditions_by_issue, quiet_simulator
from kafka import KafkaAdminClient
from kafka_engine_harness import (
    BUCKET_MS,
    HOURS,
    complete,
    expected_issues,
    make_world,
    read_all,
    start_time,
    stream_in_background,
    wait_for,
)

from flowcast.config import Settings
from flowcast.transport.sinks import KafkaSink


@pytest.fixture
def world(tmp_path: Path, kafka_settings: Settings, kafka_admin: KafkaAdminClient) -> Any:
    w = make_world(tmp_path, kafka_settings, kafka_admin)
    try:
        yield w.settings, w.city, w.procs
    finally:
        w.procs.stop_all()


def test_end_to_end_through_the_broker(world: Any) -> None:
    settings, city, procs = world
    start = start_time()
    stream_in_background(settings, city, start, speedup=0).join(120)
    procs.start("engine")
    expected = expected_issues(start)
    wait_for(lambda: complete(settings, city, expected), 180, procs, "every output")
    messages = conditions_by_issue(read_all(settings, settings.topics.road_conditions))
    check_condition_values({i: messages[i] for i in expected}, city)
    spots = conditions_by_issue(read_all(settings, settings.topics.spot_forecasts))
    assert len(spots) >= HOURS * 4 - 1
    assert read_all(settings, settings.topics.deadletter) == []
    engine = procs.running[0]
    engine.send_signal(signal.SIGTERM)  # graceful: finish, flush, commit, leave the group
    assert engine.wait(30) == 0, procs.logs()
    assert "offsets committed" in procs.logs()


def test_run_serves_the_api_and_pages_of_what_it_publishes(world: Any) -> None:
    """`flowcast run --port 0`: the pages and the API on a real port, fed from the output
    topics; the guidance-screen rankings are served by the API, and the conditions topic
    carries segment conditions only."""
    import httpx

    settings, city, procs = world
    start = start_time()
    stream_in_background(settings, city, start, speedup=0).join(120)
    procs.start("engine", "--port", "0")
    urls: list[str] = []

    def served() -> bool:
        log = (procs.tmp / "engine.log").read_text()
        urls[:] = re.findall(r"serving (http://127\.0\.0\.1:\d+)/screen", log)
        return bool(urls) and httpx.get(f"{urls[0]}/readyz", timeout=5).status_code == 200

    wait_for(served, 120, procs, "the HTTP server to be ready")
    url = urls[0]
    segments = set(city.segment_ids.tolist())

    def all_segments() -> bool:
        body = httpx.get(f"{url}/api/conditions", timeout=10).json()
        return {c["segment"] for c in body["conditions"]} == segments

    wait_for(all_segments, 120, procs, "every segment in /api/conditions")
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    page = httpx.get(f"{url}/screen", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "flowcast_readings_total" in httpx.get(f"{url}/metrics", timeout=5).text
    refused = httpx.post(f"{url}/api/alerts/nothing/ack", json={"by": "x"}, timeout=5)
    assert refused.status_code == 401
    screens = {s.id for s in city.screens}

    def ranked() -> bool:
        body = httpx.get(f"{url}/api/screens", timeout=10).json()
        return screens <= {s["screen"] for s in body["screens"] if s["issued_at"] is not None}

    wait_for(ranked, 60, procs, "screen rankings in /api/screens")
    keys = {r.key.decode() for r in read_all(settings, settings.topics.road_conditions)}
    assert keys == segments
    engine = procs.running[0]
    engine.send_signal(signal.SIGTERM)
    assert engine.wait(30) == 0, procs.logs()


def test_bad_input_through_the_broker_is_dead_lettered_and_good_input_kept(
        world: Any) -> None:
    """One bad reading beside every ten good ones, JSON records through the real broker:
    every bad one lands in the dead-letter topic with its reason and origin; every good one
    is accumulated; every segment still gets its conditions."""
    from kafka import KafkaProducer

    from flowcast.engine.loop import Engine
    from flowcast.ingest.wire.codec import encode_road_json, road_keys
    from flowcast.transport.kafka_client import make_consumer

    settings, city, _procs = world
    data = settings.model_dump()
    data["engine"].update({"start_from": "earliest"})
    data["time"].update({"idle_timeout_s": 1, "allowed_lateness_s": 5})
    settings = Settings.model_validate(data)
    start = start_time()
    sensor = str(city.sensor_ids[0])
    region = str(city.regions[city.sensor_region[0]]).encode()
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap, linger_ms=20)
    sim = quiet_simulator(city, start)
    good, bad = 0, 0
    for ts_ms, road, _ in sim.batches(start + dt.timedelta(hours=1)):
        for i, (key, value) in enumerate(zip(road_keys(road, city), encode_road_json(road, city),
                                             strict=True)):
            producer.send(settings.topics.road_readings, key=key, value=value, timestamp_ms=ts_ms)
            good += 1
            if i % 10 == 0:
                junk = [b"{oops", orjson.dumps({"sensor": "NOPE", "ts": ts_ms}),
                        orjson.dumps({"sensor": sensor, "ts": ts_ms, "speed": -4})][bad % 3]
                producer.send(settings.topics.road_readings, key=region, value=junk,
                              timestamp_ms=ts_ms)
                bad += 1
    producer.flush()
    producer.close()
    engine = Engine(city, settings, make_consumer(settings.kafka, group_id=settings.kafka.group_id),
                    [KafkaSink.connect(settings.kafka)])
    engine.subscribe()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
            engine.metrics.counter("flowcast_readings_total", kind="road") < good
            or sum(engine.metrics.counters("flowcast_deadletters_total").values()) < bad):
        engine.step()
    for _ in range(3):
        engine.step()
    accepted = sum(w.state.totals["accepted"] for w in engine.workers.values()
                   if w.kind == "road" and w.state is not None)
    engine.close()
    letters = read_all(settings, settings.topics.deadletter)
    reasons = sorted(dict(r.headers)["flowcast-reason"].decode() for r in letters)
    assert len(letters) == bad
    assert set(reasons) == {"undecodable", "unknown_sensor", "out_of_range"}
    for record in letters:
        headers = dict(record.headers)
        assert headers["flowcast-origin-topic"] == settings.topics.road_readings.encode()
        assert int(headers["flowcast-origin-offset"]) >= 0
    assert engine.metrics.counter("flowcast_readings_total", kind="road") == good
    assert accepted == good  # every good reading went into the buckets
    messages = conditions_by_issue(read_all(settings, settings.topics.road_conditions))
    expected = set(range(int(start.timestamp() * 1000) + BUCKET_MS,
                         int(start.timestamp() * 1000) + 3_600_000 - BUCKET_MS + 1, BUCKET_MS))
    for issued_at in expected:
        assert set(messages[issued_at]) == set(city.segment_ids.tolist())
