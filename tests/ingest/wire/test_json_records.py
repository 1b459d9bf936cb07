"""JSON readings: exact encoding, round trips, and decoding of good and bad records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire import json_decode
from flowcast.ingest.wire.codec import (
    decode_road_records,
    decode_spot_records,
    encode_road_json,
    encode_spot_json,
    road_keys,
    spot_keys,
)

TS = 1_764_000_000_000


def road_batch(city: City, n: int, seed: int = 0) -> RoadBatch:
    """Random readings already at wire precision, with some nulls."""
    rng = np.random.default_rng(seed)
    batch = RoadBatch(
        rng.integers(0, city.n_sensors, n).astype(np.int32),
        TS + rng.integers(0, 5, n).astype(np.int64) * 60_000,
        rng.integers(0, 80, n).astype(np.float32),
        (rng.integers(0, 10_001, n) / 10_000).astype(np.float32),
        (rng.integers(0, 1300, n) / 10).astype(np.float32),
    )
    batch.flow[rng.random(n) < 0.1] = np.nan
    batch.occupancy[rng.random(n) < 0.1] = np.nan
    batch.speed[rng.random(n) < 0.1] = np.nan
    return batch


def assert_same(a: RoadBatch | SpotBatch, b: RoadBatch | SpotBatch) -> None:
    assert type(a) is type(b) and len(a) == len(b)
    for name in a.__dataclass_fields__:
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right, err_msg=name)  # NaN == NaN here


def test_road_record_is_the_documented_shape(city: City) -> None:
    batch = RoadBatch(np.array([0, 1], np.int32), np.array([TS, TS], np.int64),
                      np.array([14, np.nan], np.float32), np.array([0.08, 0.123456], np.float32),
                      np.array([57.5, 100.04], np.float32))
    first, second = encode_road_json(batch, city)
    sensor0, sensor1 = city.sensor_ids[:2]
    assert first == (f'{{"sensor":"{sensor0}","ts":{TS},"flow":14,"occupancy":0.08,'
                     f'"speed":57.5}}').encode()
    assert json.loads(second) == {"sensor": sensor1, "ts": TS, "flow": None,
                                  "occupancy": 0.1235, "speed": 100}


def test_numbers_round_and_trim(city: City) -> None:
    flows = np.array([0, 0.04, 0.05, 3.96, 12.5, 1e9, 7], np.float32)
    n = len(flows)
    batch = RoadBatch(np.zeros(n, np.int32), np.full(n, TS, np.int64), flows,
                      np.array([0, 1, 0.5, 0.00004, 0.99996, 0.1, np.inf], np.float32),
                      np.full(n, np.nan, np.float32))
    decoded = [json.loads(r) for r in encode_road_json(batch, city)]
    assert [d["flow"] for d in decoded] == [0, 0, 0.1, 4, 12.5, 1e9, 7]
    assert [d["occupancy"] for d in decoded] == [0, 1, 0.5, 0, 1, 0.1, None]
    assert all(d["speed"] is None for d in decoded)


def test_road_round_trip_preserves_values_and_nans(city: City) -> None:
    batch = road_batch(city, 2_000)
    result = decode_road_records(encode_road_json(batch, city), None, city)
    assert len(result.rejects) == 0
    assert_same(result.batch, batch)
    np.testing.assert_array_equal(result.source, np.arange(len(batch)))


def test_spot_forms_and_round_trip(city: City) -> None:
    nan = np.nan
    batch = SpotBatch(np.array([0, 1, 2, 3], np.int32), np.full(4, TS, np.int64),
                      np.array([120, nan, nan, 3], np.float32),
                      np.array([80, nan, nan, 0], np.float32),
                      np.array([nan, 5230, nan, 17], np.float32))
    records = [json.loads(r) for r in encode_spot_json(batch, city)]
    ids = city.spot_ids
    assert records == [
        {"spot": ids[0], "ts": TS, "entries": 120, "exits": 80},
        {"spot": ids[1], "ts": TS, "count": 5230},
        {"spot": ids[2], "ts": TS, "entries": None, "exits": None},
        {"spot": ids[3], "ts": TS, "entries": 3, "exits": 0, "count": 17},
    ]
    result = decode_spot_records(encode_spot_json(batch, city), None, city)
    assert_same(result.batch, batch)


def test_empty_batches(city: City) -> None:
    assert encode_road_json(RoadBatch.empty(), city) == []
    result = decode_road_records([], None, city)
    assert len(result.batch) == 0 and len(result.rejects) == 0


def test_keys_are_region_and_spot_ids(city: City) -> None:
    batch = road_batch(city, 50)
    expected = [str(city.regions[city.sensor_region[s]]).encode() for s in batch.sensor]
    assert road_keys(batch, city) == expected
    spots = SpotBatch(np.array([2, 0], np.int32), np.full(2, TS, np.int64),
                      *(np.zeros(2, np.float32) for _ in range(3)))
    assert spot_keys(spots, city) == [city.spot_ids[2].encode(), city.spot_ids[0].encode()]


def test_mixed_good_and_bad_records(city: City) -> None:
    s0, s1 = city.sensor_ids[:2]
    records: list[bytes | None] = [
        f'{{"sensor":"{s0}","ts":{TS},"flow":3,"occupancy":0.1,"speed":40}}'.encode(),  # ok
        b"not json at all",                                                   # undecodable
        None,                                                                 # undecodable
        b"[1, 2, 3]",                                                         # undecodable
        f'{{"ts":{TS},"flow":3}}'.encode(),                                   # missing sensor
        f'{{"sensor":"{s0}","flow":3}}'.encode(),                             # missing ts
        f'{{"sensor":null,"ts":{TS}}}'.encode(),                              # missing sensor
        f'{{"sensor":"NOPE","ts":{TS}}}'.encode(),                            # unknown
        f'{{"sensor":17,"ts":{TS}}}'.encode(),                                # unknown
        f'{{"sensor":"{s1}","ts":"yesterday"}}'.encode(),                     # bad ts
        f'{{"sensor":"{s1}","ts":-5}}'.encode(),                              # bad ts
        f'{{"sensor":"{s1}","ts":true}}'.encode(),                            # bad ts
        f'{{"sensor":"{s1}","ts":{TS}.5}}'.encode(),                          # bad ts
        f'{{"sensor":"{s1}","ts":"2025-11-24T16:00:00"}}'.encode(),           # no offset
        f'{{"sensor":"{s1}","ts":{TS},"flow":-1}}'.encode(),                  # out of range
        f'{{"sensor":"{s1}","ts":{TS},"occupancy":1.01}}'.encode(),           # out of range
        f'{{"sensor":"{s1}","ts":{TS},"speed":250.1}}'.encode(),              # out of range
        f'{{"sensor":"{s1}","ts":{TS},"speed":"fast"}}'.encode(),             # out of range
        f'{{"sensor":"{s1}","ts":{TS},"flow":true}}'.encode(),                # out of range
        f'{{"sensor":"{s1}","ts":{TS},"flow":null,"speed":250}}'.encode(),    # ok, nulls
        b'{"sensor":"NOPE","flow":-1}',                                     # missing wins
    ]
    result = decode_road_records(records, [[] for _ in records], city)
    expected = {1: "undecodable", 2: "undecodable", 3: "undecodable", 4: "missing_field",
                5: "missing_field", 6: "missing_field", 7: "unknown_sensor",
                8: "unknown_sensor", 9: "bad_timestamp", 10: "bad_timestamp",
                11: "bad_timestamp", 12: "bad_timestamp", 13: "bad_timestamp",
                14: "out_of_range", 15: "out_of_range", 16: "out_of_range", 17: "out_of_range",
                18: "out_of_range", 20: "missing_field"}
    assert {r.position: r.reason for r in result.rejects} == expected
    assert all(r.row is None for r in result.rejects)
    np.testing.assert_array_equal(result.source, [0, 19])
    np.testing.assert_array_equal(result.batch.sensor, city.sensor_index([s0, s1]))
    np.testing.assert_array_equal(result.batch.flow, np.array([3, np.nan], np.float32))
    np.testing.assert_array_equal(result.batch.speed, np.array([40, 250], np.float32))
    assert result.rejects.counts() == {"undecodable": 3, "missing_field": 4,
                                       "unknown_sensor": 2, "bad_timestamp": 5,
                                       "out_of_range": 5}


def test_iso_timestamps_with_offsets(city: City) -> None:
    s0 = city.sensor_ids[0]
    stamps = ["2025-11-24T16:00:00+08:00", "2025-11-24T08:00:00Z", "2025-11-24T08:00:00.250Z",
              "2025-11-24 03:00:00-05:00", "2025-11-24T10:00:00+0200", "2025-02-30T00:00:00Z"]
    records = [json.dumps({"sensor": s0, "ts": t, "flow": 1}).encode() for t in stamps]
    records.append(json.dumps({"sensor": s0, "ts": 1_763_971_200_000}).encode())
    result = decode_road_records(records, None, city)
    base = 1_763_971_200_000  # 2025-11-24T08:00:00Z
    np.testing.assert_array_equal(result.batch.ts_ms, [base, base, base + 250, base, base, base])
    assert [(r.position, r.reason) for r in result.rejects] == [(5, "bad_timestamp")]


def test_huge_numbers_are_refused_not_crashing(city: City) -> None:
    s0 = city.sensor_ids[0]
    records = [f'{{"sensor":"{s0}","ts":{2**70}}}'.encode(),
               f'{{"sensor":"{s0}","ts":{TS},"flow":1e400}}'.encode(),
               f'{{"sensor":"{s0}","ts":{TS},"flow":1e300}}'.encode()]
    result = decode_road_records(records, None, city)
    assert len(result.batch) == 0
    reasons = {r.position: r.reason for r in result.rejects}
    assert reasons[2] == "out_of_range"
    assert reasons[0] in ("bad_timestamp", "undecodable")  # orjson refuses > 64-bit ints
    assert reasons[1] in ("out_of_range", "undecodable")


def test_spot_validation(city: City) -> None:
    spot = city.spot_ids[0]
    records = [json.dumps({"spot": spot, "ts": TS, "entries": 4, "exits": 2}).encode(),
               json.dumps({"spot": spot, "ts": TS, "count": -3}).encode(),
               json.dumps({"spot": "atlantis", "ts": TS, "count": 3}).encode(),
               json.dumps({"sensor": spot, "ts": TS}).encode()]
    result = decode_spot_records(records, None, city)
    assert [(r.position, r.reason) for r in result.rejects] == [
        (1, "out_of_range"), (2, "unknown_spot"), (3, "missing_field")]
    np.testing.assert_array_equal(result.batch.entries, [4])


def test_a_record_that_breaks_the_columnar_pass_is_refused_alone(
        city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the standard library's parser (the fallback without orjson) a lone surrogate
    parses into a string Arrow cannot hold, and deep nesting raises RecursionError: each
    refuses its own record, and the records beside it are still decoded."""
    monkeypatch.setattr(json_decode, "_loads", json.loads)
    s0, s1 = city.sensor_ids[:2]
    records: list[bytes | None] = [
        f'{{"sensor":"{s0}","ts":{TS},"flow":3}}'.encode(),
        f'{{"sensor":"{s1}","ts":"\\ud800 2025-11-24T16:00:00Z"}}'.encode(),
        b'{"sensor":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        f'{{"sensor":"{s1}","ts":"2025-11-24T16:00:00Z","flow":4}}'.encode(),
    ]
    result = decode_road_records(records, None, city)
    assert [(r.position, r.reason) for r in result.rejects] == [(1, "undecodable"),
                                                                (2, "undecodable")]
    np.testing.assert_array_equal(result.source, [0, 3])
    np.testing.assert_array_equal(result.batch.flow, [3, 4])
