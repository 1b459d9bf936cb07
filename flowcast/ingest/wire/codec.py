"""Wire formats of the reading topics (DESIGN.md, "Wire contracts"): encode and decode.

Records are either one JSON object per reading or an Arrow IPC stream frame of many readings
(header ``content-type: application/vnd.apache.arrow.stream``). Decoders take the values and
headers of polled records, in order, and return the valid readings as one columnar batch plus
every refused input with its position, reason and, for a frame, its row. Nothing valid is
lost because a neighbour is bad. Timestamps are not compared with the clock here; the engine
does that.

Keys: road records are keyed by region id, spot records by spot id; a frame is keyed by the
region all its readings share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.arrow_decode import arrow_columns
from flowcast.ingest.wire.arrow_encode import encode_arrow
from flowcast.ingest.wire.arrow_encode import encode_arrow_by_region as _arrow_by_region
from flowcast.ingest.wire.arrow_encode import encode_spot_arrow_by_spot as _arrow_by_spot
from flowcast.ingest.wire.arrow_frame import FrameError
from flowcast.ingest.wire.arrow_frame import frame_rows as frame_rows
from flowcast.ingest.wire.decode_result import DecodeResult, Rejection, Rejects
from flowcast.ingest.wire.json_decode import json_columns
from flowcast.ingest.wire.json_encode import encode_json
from flowcast.ingest.wire.schema import (
    ARROW_CONTENT_TYPE,
    ARROW_HEADERS,
    BAD_TIMESTAMP,
    CONTENT_TYPE_HEADER,
    MISSING_FIELD,
    OUT_OF_RANGE,
    REASONS,
    ROAD,
    SPOT,
    UNDECODABLE,
    UNKNOWN_SENSOR,
    UNKNOWN_SPOT,
    Columns,
    ReadingKind,
    reason_code,
    validate,
)

__all__ = [
    "ARROW_CONTENT_TYPE", "ARROW_HEADERS", "BAD_TIMESTAMP", "CONTENT_TYPE_HEADER",
    "MISSING_FIELD", "OUT_OF_RANGE", "REASONS", "UNDECODABLE", "UNKNOWN_SENSOR", "UNKNOWN_SPOT",
    "DecodeResult", "Headers", "Rejection", "Rejects", "decode_road_records",
    "decode_spot_records", "encode_road_arrow", "encode_road_arrow_by_region",
    "encode_road_json", "encode_spot_arrow", "encode_spot_arrow_by_spot", "encode_spot_json",
    "frame_rows", "is_arrow_frame", "road_keys", "spot_keys",
]

Headers = Sequence[tuple[str, bytes]]
"""Kafka record headers as kafka-python gives them: (name, value bytes) pairs."""

_ARROW_TYPE = ARROW_CONTENT_TYPE.encode()
_ARROW_MAGIC = b"\xff\xff\xff\xff"  # IPC stream continuation marker; no JSON text starts so


# ----- encoding ------------------------------------------------------------------------


def encode_road_json(batch: RoadBatch, city: City) -> list[bytes]:
    """One JSON object per road reading, in batch order: ``{"sensor":"S0101",
    "ts":1764000000000,"flow":14,"occupancy":0.08,"speed":57.5}`` (flow to 0.1 vehicle,
    occupancy to 4 decimals, speed to 0.1 km/h, trailing zeros dropped, NaN as null)."""
    return encode_json(batch, city)


def encode_spot_json(batch: SpotBatch, city: City) -> list[bytes]:
    """One JSON object per spot reading: ``{"spot":ID,"ts":...,"entries":N,"exits":N}`` for a
    gate count, ``{"spot":ID,"ts":...,"count":N}`` for a head count (people, integers)."""
    return encode_json(batch, city)


def encode_road_arrow(batch: RoadBatch, city: City) -> bytes:
    """All road readings of ``batch`` as one Arrow IPC stream frame: ``sensor``
    (dictionary-encoded string), ``ts`` int64 epoch ms, ``flow``/``occupancy``/``speed``
    float32 with nulls for NaN. Send it with :data:`ARROW_HEADERS`."""
    return encode_arrow(batch, city)


def encode_spot_arrow(batch: SpotBatch, city: City) -> bytes:
    """All spot readings as one Arrow frame: ``spot``, ``ts``, ``entries``, ``exits``,
    ``count``."""
    return encode_arrow(batch, city)


def encode_road_arrow_by_region(batch: RoadBatch, city: City) -> list[tuple[bytes, bytes]]:
    """One road frame per region present: ``[(region id key, frame), ...]``."""
    return _arrow_by_region(batch, city)


def encode_spot_arrow_by_spot(batch: SpotBatch, city: City) -> list[tuple[bytes, bytes]]:
    """One spot frame per spot present: ``[(spot id key, frame), ...]`` (spot records are
    keyed by spot id in both formats)."""
    return _arrow_by_spot(batch, city)


def road_keys(batch: RoadBatch, city: City) -> list[bytes]:
    """The Kafka key of each road reading: its sensor's region id, as bytes."""
    regions = np.array([str(r).encode() for r in city.regions.tolist()], dtype=object)
    return regions[city.sensor_region[batch.sensor]].tolist()


def spot_keys(batch: SpotBatch, city: City) -> list[bytes]:
    """The Kafka key of each spot reading: its spot id, as bytes."""
    ids = np.array([str(s).encode() for s in city.spot_ids.tolist()], dtype=object)
    return ids[batch.spot].tolist()


# ----- decoding ------------------------------------------------------------------------


def is_arrow_frame(value: bytes | None, headers: Headers | None) -> bool:
    """Whether a record is an Arrow frame: its ``content-type`` header says so, or, with no
    such header, its bytes open with the IPC stream marker."""
    for name, content in headers or ():
        if name.lower() == CONTENT_TYPE_HEADER:
            return (content or b"").split(b";")[0].strip().lower() == _ARROW_TYPE
    return value is not None and value[:4] == _ARROW_MAGIC


def decode_road_records(values: Sequence[bytes | None],
                        headers: Sequence[Headers | None] | None,
                        city: City) -> DecodeResult[RoadBatch]:
    """Decode polled road records (values and their headers, aligned; ``headers=None`` when
    there are none) into the valid readings and the refused inputs.

    Reasons: ``undecodable`` (not JSON / not Arrow, or a frame column of the wrong type),
    ``missing_field`` (sensor or ts), ``unknown_sensor``, ``bad_timestamp`` (neither epoch ms
    in [1970, 2100) nor ISO 8601 with offset), ``out_of_range`` (flow < 0, occupancy outside
    0..1, speed outside 0..250 km/h, or a value that is not a number). Null values are NaN.
    Readings keep their input order (record, then row).
    """
    return _decode(values, headers, city, ROAD)


def decode_spot_records(values: Sequence[bytes | None],
                        headers: Sequence[Headers | None] | None,
                        city: City) -> DecodeResult[SpotBatch]:
    """Decode polled spot records; as :func:`decode_road_records`, with ``unknown_spot`` and
    entries, exits and count >= 0."""
    return _decode(values, headers, city, SPOT)


def _decode(values: Sequence[bytes | None], headers: Sequence[Headers | None] | None,
            city: City, kind: ReadingKind) -> DecodeResult:
    n = len(values)
    arrow = np.zeros(n, bool)
    if headers is not None or any(v is not None and v[:4] == _ARROW_MAGIC for v in values):
        hdrs = headers if headers is not None else [None] * n
        arrow = np.fromiter(map(is_arrow_frame, values, hdrs), bool, n)
    parts: list[Columns] = []
    bad_records: list[tuple[int, int]] = []
    json_at = np.flatnonzero(~arrow).astype(np.int32)
    if len(json_at):
        chosen = values if len(json_at) == n else [values[i] for i in json_at.tolist()]
        cols, undecodable = json_columns(chosen, json_at, kind, city)
        parts.append(cols)
        bad_records += [(p, reason_code(UNDECODABLE)) for p in undecodable.tolist()]
    for position in np.flatnonzero(arrow).tolist():
        try:
            parts.append(arrow_columns(values[position], position, kind, city))
        except FrameError as err:
            bad_records.append((position, reason_code(err.reason)))
    return _result(Columns.concat(parts, len(kind.value_fields)), bad_records, kind,
                   mixed=bool(arrow.any()) and len(json_at) > 0)


def _result(cols: Columns, bad_records: list[tuple[int, int]], kind: ReadingKind,
            mixed: bool) -> DecodeResult:
    valid, reason = validate(cols, kind)
    if valid.all() and not mixed:  # the common case: no copies
        keep: np.ndarray | slice = slice(None)
    else:
        keep = np.flatnonzero(valid)
        if mixed:  # JSON rows came first; restore record order
            keep = keep[np.argsort(cols.position[keep], kind="stable")]
    batch = kind.make_batch(cols.index[keep], cols.ts_ms[keep],
                            tuple(v[keep] for v in cols.values))
    bad = ~valid
    records = np.array(bad_records, dtype=np.int64).reshape(-1, 2)
    rejects = Rejects.build(np.concatenate([cols.position[bad], records[:, 0]]),
                            np.concatenate([cols.row[bad], np.full(len(records), -1)]),
                            np.concatenate([reason[bad], records[:, 1]]))
    return DecodeResult(batch, cols.position[keep], rejects)
