"""Arrow batch frames: round trips, per-region framing, frames with bad rows, odd schemas."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.codec import (
    ARROW_CONTENT_TYPE,
    ARROW_HEADERS,
    decode_road_records,
    decode_spot_records,
    encode_road_arrow,
    encode_road_arrow_by_region,
    encode_road_json,
    encode_spot_arrow,
    encode_spot_arrow_by_spot,
    frame_rows,
    is_arrow_frame,
)

TS = 1_764_000_000_000


def road_batch(city: City, n: int, seed: int = 0) -> RoadBatch:
    rng = np.random.default_rng(seed)
    batch = RoadBatch(rng.integers(0, city.n_sensors, n).astype(np.int32),
                      np.full(n, TS, np.int64), rng.random(n).astype(np.float32) * 50,
                      rng.random(n).astype(np.float32), rng.random(n).astype(np.float32) * 120)
    batch.occupancy[::7] = np.nan
    batch.speed[::11] = np.nan
    return batch


def frame(columns: dict[str, pa.Array]) -> bytes:
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def assert_same(a: RoadBatch | SpotBatch, b: RoadBatch | SpotBatch) -> None:
    assert type(a) is type(b) and len(a) == len(b)
    for name in a.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name


def test_frame_schema_and_round_trip(city: City) -> None:
    batch = road_batch(city, 5_000)
    value = encode_road_arrow(batch, city)
    table = pa.ipc.open_stream(value).read_all()
    assert table.column_names == ["sensor", "ts", "flow", "occupancy", "speed"]
    assert pa.types.is_dictionary(table.schema.field("sensor").type)
    assert table.schema.field("ts").type == pa.int64()
    assert table.schema.field("speed").type == pa.float32()
    assert table.column("occupancy").null_count == int(np.isnan(batch.occupancy).sum())
    assert len(table.column("sensor").chunk(0).dictionary) == len(np.unique(batch.sensor))
    result = decode_road_records([value], [ARROW_HEADERS], city)
    assert len(result.rejects) == 0
    assert_same(result.batch, batch)


def test_frames_by_region_share_their_key(city: City) -> None:
    batch = road_batch(city, 1_000)
    frames = encode_road_arrow_by_region(batch, city)
    regions = city.sensor_region[batch.sensor]
    assert [k for k, _ in frames] == [str(city.regions[r]).encode()
                                      for r in np.unique(regions)]
    total = 0
    for key, value in frames:
        part = decode_road_records([value], None, city).batch  # sniffed without header
        assert {str(city.regions[r]).encode() for r in city.sensor_region[part.sensor]} == {key}
        total += len(part)
    assert total == len(batch)


def test_spot_frames_round_trip(city: City) -> None:
    nan = np.nan
    batch = SpotBatch(np.array([0, 1, 2, 3], np.int32), np.full(4, TS, np.int64),
                      np.array([120, nan, 4, 3], np.float32),
                      np.array([80, nan, 1, 0], np.float32),
                      np.array([nan, 5230, nan, 17], np.float32))
    result = decode_spot_records([encode_spot_arrow(batch, city)], [ARROW_HEADERS], city)
    assert_same(result.batch, batch)
    frames = encode_spot_arrow_by_spot(batch, city)
    assert [key for key, _ in frames] == [str(s).encode() for s in city.spot_ids[:4]]
    decoded = decode_spot_records([v for _, v in frames], None, city).batch
    assert len(decoded) == 4 and sorted(decoded.spot.tolist()) == [0, 1, 2, 3]


def test_frame_with_bad_rows_keeps_its_good_rows(city: City) -> None:
    s0, s1 = city.sensor_ids[:2]
    value = frame({
        "sensor": pa.array([s0, "NOPE", None, s1, s1, s0, s1], pa.string()),
        "ts": pa.array([TS, TS, TS, None, -1, TS, TS], pa.int64()),
        "flow": pa.array([1, 2, 3, 4, 5, -6, None], pa.float64()),
        "occupancy": pa.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 2.0], pa.float32()),
    })
    json_before = f'{{"sensor":"{s0}","ts":{TS},"flow":9}}'.encode()
    result = decode_road_records([json_before, value, b"garbage"],
                                 [[], ARROW_HEADERS, []], city)
    assert [(r.position, r.row, r.reason) for r in result.rejects] == [
        (1, 1, "unknown_sensor"), (1, 2, "missing_field"), (1, 3, "missing_field"),
        (1, 4, "bad_timestamp"), (1, 5, "out_of_range"), (1, 6, "out_of_range"),
        (2, None, "undecodable")]
    np.testing.assert_array_equal(result.source, [0, 1])
    np.testing.assert_array_equal(result.batch.flow, [9, 1])
    assert np.isnan(result.batch.speed).all()  # no speed column: all null


def test_whole_frame_refusals(city: City) -> None:
    no_ts = frame({"sensor": pa.array([city.sensor_ids[0]])})
    int_ids = frame({"sensor": pa.array([1, 2]), "ts": pa.array([TS, TS])})
    text_flow = frame({"sensor": pa.array([city.sensor_ids[0]]), "ts": pa.array([TS]),
                       "flow": pa.array(["many"])})
    truncated = encode_road_arrow(road_batch(city, 10), city)[:-40]
    values = [no_ts, int_ids, text_flow, truncated, b"\xff\xff\xff\xffjunk"]
    result = decode_road_records(values, [ARROW_HEADERS] * len(values), city)
    assert [(r.position, r.row, r.reason) for r in result.rejects] == [
        (0, None, "missing_field"), (1, None, "undecodable"), (2, None, "undecodable"),
        (3, None, "undecodable"), (4, None, "undecodable")]
    assert len(result.batch) == 0


def test_other_id_and_time_encodings(city: City) -> None:
    s0, s1 = city.sensor_ids[:2]
    base = 1_763_971_200_000  # 2025-11-24T08:00:00Z
    plain = frame({"sensor": pa.array([s0, s1], pa.large_string()),
                   "ts": pa.array(["2025-11-24T16:00:00+08:00", "2025-11-24T08:00:00"]),
                   "speed": pa.array([50, 60], pa.int32())})
    stamped = frame({"sensor": pa.array([s1]),
                     "ts": pa.array([base], pa.timestamp("ms", "Asia/Shanghai"))})
    naive = frame({"sensor": pa.array([s1]), "ts": pa.array([base], pa.timestamp("ms"))})
    result = decode_road_records([plain, stamped, naive], None, city)
    np.testing.assert_array_equal(result.batch.ts_ms, [base, base])
    np.testing.assert_array_equal(result.batch.speed, [50, np.nan])
    assert [(r.position, r.row, r.reason) for r in result.rejects] == [
        (0, 1, "bad_timestamp"), (2, 0, "bad_timestamp")]


def test_frame_rows_extracts_bad_rows_for_dead_letters(city: City) -> None:
    batch = road_batch(city, 20)
    value = encode_road_arrow(batch, city)
    picked = frame_rows(value, np.array([3, 7]))
    assert_same(decode_road_records([picked], None, city).batch, batch.take(np.array([3, 7])))


def test_content_type_header_decides() -> None:
    json_value = json.dumps({"sensor": "x", "ts": 1}).encode()
    assert is_arrow_frame(b"...", [("Content-Type", ARROW_CONTENT_TYPE.encode())])
    assert is_arrow_frame(b"...", [("content-type", (ARROW_CONTENT_TYPE + "; v=1").encode())])
    assert not is_arrow_frame(b"\xff\xff\xff\xff", [("content-type", b"application/json")])
    assert not is_arrow_frame(json_value, None)
    assert is_arrow_frame(b"\xff\xff\xff\xff\x00", [])


def test_json_and_frames_mixed_keep_record_order(city: City) -> None:
    batch = road_batch(city, 30)
    records = encode_road_json(batch.take(np.arange(10)), city)
    values = [*records[:5], encode_road_arrow(batch.take(np.arange(10, 30)), city), *records[5:]]
    headers = [[]] * 5 + [ARROW_HEADERS] + [[]] * 5
    result = decode_road_records(values, headers, city)
    order = np.r_[0:5, 10:30, 5:10]
    np.testing.assert_array_equal(result.batch.sensor, batch.sensor[order])
    np.testing.assert_array_equal(result.source, np.r_[0:5, [5] * 20, 6:11])
