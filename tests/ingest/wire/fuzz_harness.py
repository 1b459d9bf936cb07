"""Mutated Arrow frames and JSON records through the public decoders; run as a child process.

``python fuzz_harness.py SEED FRAME_CASES JSON_CASES [FIRST_CASE]``. Case ``i`` is mutated with
``numpy.random.default_rng([SEED, i])``, so any one case can be replayed on its own. Each case
decodes ``[valid JSON record, mutated input, valid frame]`` and checks that every input got an
answer: the mutated one is either decoded (its readings plus its refused rows account for every
row) or refused whole with a reason, and both valid neighbours are decoded intact. Exits 0 and
prints the counts when all cases pass; an assertion exits 1; a crash of the decoder kills the
process, which is what running it in a child is for (``faulthandler`` prints where).
"""

from __future__ import annotations

import faulthandler
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial

import numpy as np
import pyarrow as pa

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.simulator import generate_city
from flowcast.ingest.wire import json_decode
from flowcast.ingest.wire.codec import (
    ARROW_HEADERS,
    REASONS,
    DecodeResult,
    decode_road_records,
    decode_spot_records,
    encode_road_arrow,
    encode_road_json,
    encode_spot_arrow,
    encode_spot_json,
)

TS = 1_764_000_000_000
ROWS = 24  # about 1 KB frames, like the ones that escaped
Decoder = Callable[..., DecodeResult]
PARSERS = (json_decode._loads, json.loads)


def _road(city: City, rng: np.random.Generator) -> RoadBatch:
    batch = RoadBatch(rng.integers(0, city.n_sensors, ROWS).astype(np.int32),
                      TS + rng.integers(0, 5, ROWS).astype(np.int64) * 60_000,
                      rng.integers(0, 80, ROWS).astype(np.float32),
                      (rng.integers(0, 1000, ROWS) / 1000).astype(np.float32),
                      (rng.integers(0, 1200, ROWS) / 10).astype(np.float32))
    batch.speed[::5] = np.nan
    return batch


def _spot(city: City, rng: np.random.Generator) -> SpotBatch:
    n = ROWS
    batch = SpotBatch(rng.integers(0, len(city.spot_ids), n).astype(np.int32),
                      np.full(n, TS, np.int64), rng.integers(0, 200, n).astype(np.float32),
                      rng.integers(0, 200, n).astype(np.float32),
                      rng.integers(0, 9000, n).astype(np.float32))
    batch.count[::2] = np.nan
    return batch


def _plain_ids(frame: bytes, id_field: str, batches: int = 1) -> bytes:
    """The frame re-written with its id column as plain strings, in ``batches`` batches."""
    table = pa.ipc.open_stream(frame).read_all()
    at = table.schema.get_field_index(id_field)
    table = table.set_column(at, id_field, table.column(id_field).cast(pa.string()))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=-(-table.num_rows // batches))
    return sink.getvalue().to_pybytes()


def _bases(city: City) -> list[tuple[str, Decoder, bytes, list[bytes]]]:
    """(name, decoder, valid frame, valid JSON records) for each kind of base input."""
    rng = np.random.default_rng(7)
    road, spot = _road(city, rng), _spot(city, rng)
    road_frame, spot_frame = encode_road_arrow(road, city), encode_spot_arrow(spot, city)
    road_json, spot_json = encode_road_json(road, city), encode_spot_json(spot, city)
    return [("road/dictionary", decode_road_records, road_frame, road_json),
            ("road/strings", decode_road_records, _plain_ids(road_frame, "sensor"), road_json),
            ("road/strings/3 batches", decode_road_records,
             _plain_ids(road_frame, "sensor", 3), road_json),
            ("spot/dictionary", decode_spot_records, spot_frame, spot_json),
            ("spot/strings", decode_spot_records, _plain_ids(spot_frame, "spot"), spot_json)]


def mutate(value: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One random mutation: bit flips, byte overwrites, a truncation or an insertion."""
    data = bytearray(value)
    how = ("bit flips", "byte overwrites", "truncation", "insertion")[rng.integers(4)]
    if how == "bit flips":
        for at in rng.integers(0, len(data), rng.integers(1, 9)).tolist():
            data[at] ^= 1 << int(rng.integers(8))
    elif how == "byte overwrites":
        special = np.array([0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE], np.uint8)
        for at in rng.integers(0, len(data), rng.integers(1, 9)).tolist():
            data[at] = int(rng.choice(special) if rng.random() < 0.5 else rng.integers(256))
    elif how == "truncation":
        del data[int(rng.integers(0, len(data))):]
    else:
        at = int(rng.integers(0, len(data) + 1))
        data[at:at] = rng.integers(0, 256, rng.integers(1, 17)).astype(np.uint8).tobytes()
    return how, bytes(data)


ODD_JSON = [b"1e400", b"-1e400", str(2**64).encode(), str(-(2**70)).encode(), b"9" * 400,
            b'"x"', b"[]", b"{}", b"true", b"null", b"[" * 5000 + b"]" * 5000, b'"\\ud800"',
            b'"\\ud800 2025-11-24T16:00:00Z"', b'"0000-01-01T00:00Z"', b'"2025-02-30T00:00Z"',
            b'"9999-12-31T23:59:59+99:99"', b'"2025-11-24T16:00:00,123456789+08:00"',
            b"NaN", b"-Infinity", b'"\\u0000"', b"-0.0", b'"' + b"a" * 5000 + b'"']
"""JSON values that parse (with one parser or the other) but are no reading's value."""


def odd_value(record: bytes, rng: np.random.Generator) -> bytes:
    """The record with one field's value replaced by one of :data:`ODD_JSON`."""
    fields = record.split(b",")
    at = int(rng.integers(len(fields)))
    name = fields[at].split(b":", 1)[0].lstrip(b"{")
    fields[at] = (b"{" if at == 0 else b"") + name + b":" + ODD_JSON[rng.integers(len(ODD_JSON))]
    if at == len(fields) - 1:
        fields[at] += b"}"
    return b",".join(fields)


def _rows_of(frame: bytes) -> int:
    """Rows of a frame the decoder accepted (so it is a valid stream: safe to read again)."""
    with pa.ipc.open_stream(frame) as reader:
        return sum(batch.num_rows for batch in reader)


def check(result: DecodeResult, at: int, rows: Callable[[], int]) -> str:
    """The input at ``at`` got one answer; returns 'decoded', 'partly', or 'refused:<reason>'."""
    mine = result.rejects.position == at
    whole = mine & (result.rejects.row < 0)
    accepted = int((result.source == at).sum())
    if whole.any():
        assert whole.sum() == 1 and mine.sum() == 1 and accepted == 0, "refused and decoded"
        return "refused:" + REASONS[int(result.rejects.reason[whole][0])]
    refused_rows = result.rejects.row[mine]
    assert len(np.unique(refused_rows)) == len(refused_rows), "a row refused twice"
    n = rows()
    assert n > 0 and accepted + len(refused_rows) == n, f"{accepted} + {len(refused_rows)} != {n}"
    assert ((refused_rows >= 0) & (refused_rows < n)).all(), "refused row out of the frame"
    return "decoded" if not len(refused_rows) else "partly"


def run(seed: int, frame_cases: int, json_cases: int, first: int = 0) -> Counter[str]:
    """Run the cases; returns outcome counts. Raises AssertionError on a broken invariant."""
    city = generate_city(60, 4, seed=3)
    bases = _bases(city)
    outcomes: Counter[str] = Counter()
    for i in range(first, first + frame_cases + json_cases):
        rng = np.random.default_rng([seed, i])
        name, decode, frame, records = bases[i % len(bases)]
        as_frame = i < first + frame_cases
        base = frame if as_frame else records[int(rng.integers(len(records)))]
        if not as_frame and rng.random() < 0.3:
            how, value = "odd value", odd_value(base, rng)
        else:
            how, value = mutate(base, rng)
        json_decode._loads = PARSERS[i % 2]  # JSON cases alternate orjson and the stdlib
        values = [records[0], value, frame]
        headers = [[], ARROW_HEADERS if as_frame else [], ARROW_HEADERS]
        try:
            result = decode(values, headers, city)
            expected = decode([records[0], frame], [[], ARROW_HEADERS], city)
            assert check(result, 0, lambda: 1) == "decoded", "valid JSON neighbour lost"
            assert check(result, 2, lambda: ROWS) == "decoded", "valid frame neighbour lost"
            keep = result.source != 1
            for field in result.batch.__dataclass_fields__:
                np.testing.assert_array_equal(getattr(result.batch, field)[keep],
                                              getattr(expected.batch, field), err_msg=field)
            outcome = check(result, 1, partial(_rows_of, value) if as_frame else lambda: 1)
        except Exception as err:
            raise AssertionError(f"case {i} ({name}, {'frame' if as_frame else 'JSON'}, "
                                 f"{how}): {type(err).__name__}: {err}") from err
        outcomes[("frame " if as_frame else "json ") + outcome] += 1
    return outcomes


def main(argv: list[str]) -> int:
    """Entry point: run the cases given on the command line and print what happened."""
    faulthandler.enable()
    seed, frame_cases, json_cases = (int(a) for a in argv[:3])
    first = int(argv[3]) if len(argv) > 3 else 0
    start = time.perf_counter()
    outcomes = run(seed, frame_cases, json_cases, first)
    took = time.perf_counter() - start
    print(f"fuzz seed {seed}: {frame_cases} frame cases, {json_cases} JSON cases in {took:.1f} s")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
