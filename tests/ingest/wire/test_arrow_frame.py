"""Corrupted, cut and empty frames are refused with a reason, never an escape or a crash.

Each case here is one that escaped the decoder (or crashed the process) before frames were
validated whole; ``test_decode_fuzz.py`` runs thousands of random ones in a child process.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch
from flowcast.ingest.wire.arrow_frame import FrameError, frame_rows, read_frame
from flowcast.ingest.wire.codec import ARROW_HEADERS, decode_road_records, encode_road_arrow

TS = 1_764_000_000_000


def _batch(city: City, n: int = 8) -> RoadBatch:
    rng = np.random.default_rng(1)
    return RoadBatch(rng.integers(0, city.n_sensors, n).astype(np.int32), np.full(n, TS, np.int64),
                     np.full(n, 5, np.float32), np.full(n, 0.1, np.float32),
                     np.full(n, 50, np.float32))


def _stream(table: pa.Table | pa.RecordBatch, eos: bool = True) -> bytes:
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_stream(sink, table.schema)
    writer.write(table)
    if eos:
        writer.close()
    return sink.getvalue().to_pybytes()


def _refusals(city: City, bad: bytes | None) -> list[tuple[int, int | None, str]]:
    """Decode ``[valid JSON, bad frame, valid frame]``; the valid ones must come through."""
    s0 = city.sensor_ids[0]
    good = encode_road_arrow(_batch(city), city)
    values = [f'{{"sensor":"{s0}","ts":{TS},"flow":1}}'.encode(), bad, good]
    result = decode_road_records(values, [[], ARROW_HEADERS, ARROW_HEADERS], city)
    np.testing.assert_array_equal(result.source, [0] + [2] * 8)
    return [(r.position, r.row, r.reason) for r in result.rejects]


def test_frame_cut_after_its_schema_is_refused(city: City) -> None:
    value = encode_road_arrow(_batch(city), city)
    schema_only = read_frame(value).schema.serialize().to_pybytes()
    assert value.startswith(schema_only)
    assert _refusals(city, schema_only) == [(1, None, "undecodable")]
    assert _refusals(city, schema_only + b"\xff\xff\xff\xff\x00\x00\x00\x00") == [
        (1, None, "undecodable")]  # a complete stream, but no batch: nothing to decode
    with pytest.raises(FrameError, match="schema but no record batch"):
        read_frame(schema_only)


def test_frame_cut_inside_its_batch_is_refused(city: City) -> None:
    value = encode_road_arrow(_batch(city), city)
    for cut in (len(value) - 9, len(value) - 40, len(value) // 2, 3):
        assert _refusals(city, value[:cut]) == [(1, None, "undecodable")], cut


def test_empty_values_are_refused(city: City) -> None:
    assert _refusals(city, b"") == [(1, None, "undecodable")]
    assert _refusals(city, None) == [(1, None, "undecodable")]
    empty_batch = _stream(pa.table({"sensor": pa.array([], pa.string()),
                                    "ts": pa.array([], pa.int64())}))
    assert _refusals(city, empty_batch) == [(1, None, "undecodable")]


def test_field_name_that_is_not_utf8_is_refused(city: City) -> None:
    value = encode_road_arrow(_batch(city), city)
    assert value.count(b"sensor") == 1
    for bad_name in (b"sens\xffr", b"\xc3(ow", b"\xed\xa0\x80or"):  # bad byte, bad pair, surrogate
        bad = value.replace(b"sensor", bad_name[:6].ljust(6, b"x"))
        with pytest.raises(FrameError, match="not UTF-8"):
            read_frame(bad)
        assert _refusals(city, bad) == [(1, None, "undecodable")]


def test_dictionary_indices_out_of_range_are_refused(city: City) -> None:
    ids = pa.array([str(s) for s in city.sensor_ids[:2]])
    for codes in ([0, 1, 2], [0, -1, 1], [0, 1, 2**31 - 1]):
        sensor = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), ids, safe=False)
        value = _stream(pa.table({"sensor": sensor, "ts": pa.array([TS] * 3)}))
        assert _refusals(city, value) == [(1, None, "undecodable")], codes


def test_string_offsets_out_of_bounds_are_refused(city: City) -> None:
    """Plain string ids whose offsets point outside the data: this one crashed the process in
    ``dictionary_encode`` before batches were validated in full."""
    ids = [str(s) for s in city.sensor_ids[:4]]
    value = _stream(pa.table({"sensor": pa.array(ids), "ts": pa.array([TS] * 4)}))
    offsets = np.cumsum([0] + [len(i) for i in ids]).astype(np.int32).tobytes()
    assert value.count(offsets) == 1
    for broken in ([0, 1 << 20, 2, 3, 4], [0, 5, 2, 30, 20], [-8, 5, 10, 15, 20]):
        bad = value.replace(offsets, np.array(broken, np.int32).tobytes())
        assert _refusals(city, bad) == [(1, None, "undecodable")], broken


def test_strings_that_are_not_utf8_are_refused(city: City) -> None:
    ids = [str(s) for s in city.sensor_ids[:2]]
    value = _stream(pa.table({"sensor": pa.array(ids), "ts": pa.array([TS] * 2)}))
    bad = value.replace(ids[1].encode(), b"\xff" * len(ids[1]), 1)
    assert bad != value
    assert _refusals(city, bad) == [(1, None, "undecodable")]


def test_bytes_after_the_end_of_stream_are_refused(city: City) -> None:
    value = encode_road_arrow(_batch(city), city)
    assert _refusals(city, value + b"\x00" * 8) == [(1, None, "undecodable")]
    assert _refusals(city, value + value) == [(1, None, "undecodable")]  # two frames in one


def test_stream_without_end_marker_is_still_a_frame(city: City) -> None:
    table = read_frame(encode_road_arrow(_batch(city), city))
    value = _stream(table, eos=False)
    assert not value.endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    assert len(decode_road_records([value], [ARROW_HEADERS], city).batch) == 8


def test_frame_rows_refuses_rows_outside_the_frame(city: City) -> None:
    value = encode_road_arrow(_batch(city), city)
    assert read_frame(frame_rows(value, np.array([1, 7]))).num_rows == 2
    with pytest.raises(FrameError):
        frame_rows(value, np.array([8]))
    with pytest.raises(FrameError):
        frame_rows(value[:-20], np.array([0]))
