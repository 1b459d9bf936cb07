"""One bad record in ten beside the good stream, through the real broker into `flowcast run`:
undecodable JSON, unknown sensors, impossible values, and Arrow frames cut short or made of
noise. Every bad record is dead-lettered with its reason, the process never stops, and every
road condition equals the clean run's on the good records alone."""

from __future__ import annotations

import datetime as dt

import numpy as np
import orjson
import pytest
from engine_harness import quiet_simulator
from kafka import KafkaProducer
from kafka_engine_harness import (
    HOURS,
    World,
    assert_same_values,
    clean_conditions,
    complete,
    expected_issues,
    read_all,
    start_time,
    wait_for,
)

from flowcast.city import City
from flowcast.ingest.wire.codec import (
    ARROW_HEADERS,
    encode_road_arrow,
    encode_road_json,
    encode_spot_json,
    road_keys,
    spot_keys,
)

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def _bad(city: City, road: object, ts_ms: int, i: int, rng: np.random.Generator
         ) -> tuple[bytes, list[tuple[str, bytes]] | None]:
    """Bad record number ``i`` (each one different, so that each dead letter is traced)."""
    sensor = str(city.sensor_ids[i % city.n_sensors])
    kind = i % 5
    if kind == 0:
        return f'{{"sensor": "{sensor}", "ts": {ts_ms}, "flow": {i}, "spe'.encode(), None
    if kind == 1:
        return orjson.dumps({"sensor": f"NO-SUCH-{i}", "ts": ts_ms, "flow": 3}), None
    if kind == 2:
        return orjson.dumps({"sensor": sensor, "ts": ts_ms, "flow": i, "speed": -40.0}), None
    if kind == 3:
        frame = encode_road_arrow(road, city)  # type: ignore[arg-type]
        return frame[: len(frame) // 2 - i % 97], list(ARROW_HEADERS)
    return rng.integers(0, 256, 700).astype(np.uint8).tobytes(), list(ARROW_HEADERS)


def test_ten_percent_bad_input_changes_no_good_value(world: World) -> None:
    settings, city, procs = world.settings, world.city, world.procs
    start = start_time()
    rng = np.random.default_rng(10)
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap, linger_ms=20)
    sim = quiet_simulator(city, start)
    topic = settings.topics.road_readings
    good = 0
    bad: list[bytes] = []
    for ts_ms, road, spots in sim.batches(start + dt.timedelta(hours=HOURS)):
        keys, values = road_keys(road, city), encode_road_json(road, city)
        for i, (key, value) in enumerate(zip(keys, values, strict=True)):
            producer.send(topic, key=key, value=value, timestamp_ms=ts_ms)
            good += 1
            if i % 9 == 8:
                junk, headers = _bad(city, road, ts_ms, len(bad), rng)
                producer.send(topic, key=key, value=junk, headers=headers, timestamp_ms=ts_ms)
                bad.append(junk)
        for key, value in zip(spot_keys(spots, city), encode_spot_json(spots, city),
                              strict=True):
            producer.send(settings.topics.spot_readings, key=key, value=value,
                          timestamp_ms=ts_ms)
    producer.flush()
    producer.close()
    share = len(bad) / (good + len(bad))
    assert 0.09 < share < 0.11

    engine = procs.start("engine")
    wait_for(lambda: complete(settings, city, expected_issues(start)), 180, procs,
             "every output beside the bad input")
    wait_for(lambda: len(read_all(settings, settings.topics.deadletter)) >= len(bad), 60, procs,
             "a dead letter for every bad record")
    letters = read_all(settings, settings.topics.deadletter)
    assert len(letters) == len(bad)
    assert sorted(r.value for r in letters) == sorted(bad)
    reasons = {dict(r.headers)["flowcast-reason"].decode() for r in letters}
    assert engine.poll() is None, procs.logs()
    refused = set(bad)
    compared = assert_same_values(
        settings, clean_conditions(settings, city, skip=lambda r: r.value in refused),
        expected_issues(start))
    print(f"bad input: {len(bad)} bad records beside {good} good ({share:.1%}), reasons "
          f"{sorted(reasons)}; all dead-lettered; {compared} values compared with a clean run "
          "on the good records alone, 0 differ")
