"""Dead letters keep the original bytes and say why and where from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest

from flowcast.city import City
from flowcast.ingest.simulator import generate_city
from flowcast.ingest.wire.codec import ARROW_HEADERS, decode_road_records, encode_road_arrow
from flowcast.ingest.wire.deadletter import MISROUTED, letters_for_readings, letters_for_rejects


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(10, 1, seed=1)


def test_rejected_json_records_go_back_verbatim_with_origin(city: City) -> None:
    sensor = str(city.sensor_ids[0])
    values = [f'{{"sensor": "{sensor}", "ts": 1790000000000, "flow": 3}}'.encode(),
              b"garbage", b'{"sensor": "NOPE", "ts": 1790000000000}']
    records = [Record("road", 2, 40 + i, b"R1", v, []) for i, v in enumerate(values)]
    decoded = decode_road_records(values, None, city)
    letters = letters_for_rejects(records, decoded.rejects)
    assert [(d.reason, d.value) for d in letters] == [("undecodable", b"garbage"),
                                                       ("unknown_sensor", values[2])]
    headers = dict(letters[0].headers)
    assert headers["flowcast-origin-topic"] == b"road"
    assert headers["flowcast-origin-partition"] == b"2"
    assert headers["flowcast-origin-offset"] == b"41"
    assert letters[0].key == b"R1"


def test_bad_rows_of_a_frame_travel_as_a_frame_of_those_rows(city: City) -> None:
    ids = [str(city.sensor_ids[0]), "NOPE", str(city.sensor_ids[1]), "NOPE2"]
    table = pa.table({"sensor": ids, "ts": pa.array([1790000000000] * 4, pa.int64()),
                      "flow": pa.array([1.0, 2.0, 3.0, 4.0], pa.float32())})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    frame = sink.getvalue().to_pybytes()
    records = [Record("road", 0, 7, b"R1", frame, list(ARROW_HEADERS))]
    decoded = decode_road_records([frame], [ARROW_HEADERS], city)
    assert len(decoded.batch) == 2
    (letter,) = letters_for_rejects(records, decoded.rejects)
    assert letter.reason == "unknown_sensor" and letter.readings == 2
    assert dict(letter.headers)["flowcast-origin-rows"] == b"1,3"
    back = pa.ipc.open_stream(letter.value).read_all()
    assert back.column("sensor").to_pylist() == ["NOPE", "NOPE2"]


def test_refused_readings_from_a_frame_are_reencoded(city: City) -> None:
    decoded_batch = decode_road_records(
        [encode_road_arrow(_batch(city), city)], [ARROW_HEADERS], city)
    records = [Record("road", 1, 3, b"R", encode_road_arrow(_batch(city), city),
                      list(ARROW_HEADERS))]
    mask = np.array([True, False, True])
    (letter,) = letters_for_readings(records, decoded_batch.source[mask],
                                     decoded_batch.batch.take(mask), MISROUTED, city)
    assert letter.reason == MISROUTED and letter.readings == 2
    back = pa.ipc.open_stream(letter.value).read_all()
    assert back.num_rows == 2


def _batch(city: City) -> object:
    from flowcast.ingest.readings import RoadBatch

    return RoadBatch(np.array([0, 1, 2], np.int32), np.full(3, 1790000000000, np.int64),
                     np.ones(3, np.float32), np.full(3, 0.1, np.float32),
                     np.full(3, 40, np.float32))
