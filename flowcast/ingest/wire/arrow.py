"""Readings as Apache Arrow IPC stream frames: many readings in one Kafka record.

A frame has the JSON field names as columns: the id (``sensor`` or ``spot``, string or
dictionary-encoded string), ``ts`` (int64 epoch ms; a tz-aware timestamp or ISO 8601 strings
are accepted too) and the value columns (float32, nullable; any numeric type is accepted).
Decoding is fully columnar: ids are resolved once per distinct id through the city's
vectorised lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pyarrow as pa

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.schema import (
    MISSING_FIELD,
    MISSING_ID,
    ROAD,
    SPOT,
    TS_BAD,
    TS_FIELD,
    TS_MISSING,
    TS_OK,
    UNDECODABLE,
    Columns,
    ReadingKind,
    epoch_ms_ok,
    iso_to_ms,
)

_ID_ARRAY_CACHE: dict[int, tuple[np.ndarray, pa.Array]] = {}
_DICTIONARY_CACHE: OrderedDict[tuple[int, bytes], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_DICTIONARY_CACHE_SIZE = 1024
_DICTIONARY_LOCK = threading.Lock()


class FrameError(ValueError):
    """A frame that cannot be read as a whole; ``reason`` is a rejection reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def schema(kind: ReadingKind) -> pa.Schema:
    """The schema the encoder writes for road or spot frames."""
    fields = [pa.field(kind.id_field, pa.dictionary(pa.int32(), pa.string()), nullable=False),
              pa.field(TS_FIELD, pa.int64(), nullable=False)]
    fields += [pa.field(name, pa.float32()) for name in kind.value_fields]
    return pa.schema(fields)


_SCHEMAS = {ROAD.name: schema(ROAD), SPOT.name: schema(SPOT)}


# ======================================================================================
# Encoding
# ======================================================================================


def encode_arrow(batch: RoadBatch | SpotBatch, city: City) -> bytes:
    """All readings of a batch as one Arrow IPC stream (one record batch). The id column is
    dictionary-encoded with only the ids present; NaN values are written as nulls."""
    kind = ROAD if isinstance(batch, RoadBatch) else SPOT
    index, ts_ms, values = kind.columns_of(batch)
    arrays = [_dictionary(index, kind.ids(city)), pa.array(ts_ms, pa.int64())]
    arrays += [pa.array(v, pa.float32(), mask=np.isnan(v)) for v in values]
    record_batch = pa.RecordBatch.from_arrays(arrays, schema=_SCHEMAS[kind.name])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, record_batch.schema) as writer:
        writer.write_batch(record_batch)
    return sink.getvalue().to_pybytes()


def encode_arrow_by_region(batch: RoadBatch | SpotBatch,
                           city: City) -> list[tuple[bytes, bytes]]:
    """One frame per region present in the batch, as (region id as key bytes, frame), in
    region order, so that every reading of a frame shares its Kafka key."""
    kind = ROAD if isinstance(batch, RoadBatch) else SPOT
    index = kind.columns_of(batch)[0]
    return _grouped_frames(batch, city, kind.region_of(city)[index], city.regions)


def encode_spot_arrow_by_spot(batch: SpotBatch, city: City) -> list[tuple[bytes, bytes]]:
    """One frame per spot present in the batch, as (spot id as key bytes, frame): spot
    records are keyed by spot id whatever their format, so a spot's readings share a
    partition."""
    return _grouped_frames(batch, city, batch.spot, city.spot_ids)


def _grouped_frames(batch: RoadBatch | SpotBatch, city: City, group: np.ndarray,
                    names: np.ndarray) -> list[tuple[bytes, bytes]]:
    if not len(group):
        return []
    order = np.argsort(group, kind="stable")
    present, starts = np.unique(group[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    return [(str(names[g]).encode(), encode_arrow(batch.take(order[a:b]), city))
            for g, a, b in zip(present.tolist(), starts.tolist(), ends.tolist(), strict=True)]


def frame_rows(value: bytes, rows: np.ndarray) -> bytes:
    """A frame holding only the given rows of ``value`` (to dead-letter the bad rows of a
    frame whose good rows were kept). Raises :class:`FrameError` if ``value`` is no frame."""
    table = _read(value)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.take(pa.array(np.asarray(rows, np.int64))))
    return sink.getvalue().to_pybytes()


def _dictionary(index: np.ndarray, ids: np.ndarray) -> pa.DictionaryArray:
    """Dictionary array of ``ids[index]`` whose dictionary holds only the ids used."""
    if 8 * len(index) < len(ids):  # a small frame: sort it rather than scan the registry
        used, codes = np.unique(index, return_inverse=True)
    else:
        present = np.zeros(len(ids), bool)
        present[index] = True
        used = np.flatnonzero(present)
        codes = (np.cumsum(present) - 1)[index]
    dictionary = _id_array(ids).take(pa.array(used))
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), dictionary)


def _id_array(ids: np.ndarray) -> pa.Array:
    """The registry's ids as an Arrow string array, cached per registry array."""
    cached = _ID_ARRAY_CACHE.get(id(ids))
    if cached is not None and cached[0] is ids:
        return cached[1]
    array = pa.array(ids, pa.string())
    if len(_ID_ARRAY_CACHE) > 16:
        _ID_ARRAY_CACHE.clear()
    _ID_ARRAY_CACHE[id(ids)] = (ids, array)
    return array


# ======================================================================================
# Decoding
# ======================================================================================


def arrow_columns(value: bytes | None, position: int, kind: ReadingKind, city: City) -> Columns:
    """The rows of one frame. Raises :class:`FrameError` when the frame as a whole is bad:
    not an Arrow stream or a column of the wrong type (undecodable), or no id or ``ts``
    column (missing field)."""
    table = _read(value)
    names = set(table.column_names)
    for required in (kind.id_field, TS_FIELD):
        if required not in names:
            raise FrameError(MISSING_FIELD, f"frame has no column {required!r}")
    n = table.num_rows
    index = _id_index(table.column(kind.id_field), kind, city)
    ts_ms, ts_state = _timestamps(table.column(TS_FIELD))
    values = tuple(_floats(table.column(name)) if name in names else np.full(n, np.nan, np.float32)
                   for name in kind.value_fields)
    return Columns(np.full(n, position, np.int32), np.arange(n, dtype=np.int32), index, ts_ms,
                   ts_state, values, np.ones(n, bool))


def _read(value: bytes | None) -> pa.Table:
    if value is None:
        raise FrameError(UNDECODABLE, "empty record")
    try:
        with pa.ipc.open_stream(pa.py_buffer(value)) as reader:
            return reader.read_all()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise FrameError(UNDECODABLE, f"not an Arrow IPC stream: {err}") from None


def _id_index(column: pa.ChunkedArray, kind: ReadingKind, city: City) -> np.ndarray:
    """int32 id index per row: -1 unknown, MISSING_ID null. Looks up each distinct id once."""
    parts = [_chunk_id_index(chunk, kind, city) for chunk in column.chunks]
    return np.concatenate(parts) if parts else np.empty(0, np.int32)


def _chunk_id_index(chunk: pa.Array, kind: ReadingKind, city: City) -> np.ndarray:
    kind_of = chunk.type
    if pa.types.is_dictionary(kind_of):
        value_type = kind_of.value_type
    elif _is_string(kind_of):
        chunk = chunk.dictionary_encode()
        value_type = kind_of
    else:
        raise FrameError(UNDECODABLE, f"column {kind.id_field!r} is {kind_of}, not strings")
    if not _is_string(value_type):
        raise FrameError(UNDECODABLE, f"column {kind.id_field!r} is {kind_of}, not strings")
    lookup = _dictionary_index(chunk.dictionary, kind, city)
    codes = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    index = lookup[codes] if len(lookup) else np.full(len(chunk), -1, np.int32)
    if chunk.null_count:
        index[chunk.is_null().to_numpy(zero_copy_only=False)] = MISSING_ID
    return index.astype(np.int32, copy=False)


def _dictionary_index(dictionary: pa.Array, kind: ReadingKind, city: City) -> np.ndarray:
    """int32 index of each dictionary entry (-1 unknown, MISSING_ID null). A producer sends
    the same dictionary with every frame of a region, so results are cached by content."""
    ids = kind.ids(city)
    key = _content_key(dictionary)
    with _DICTIONARY_LOCK:
        hit = _DICTIONARY_CACHE.get((id(ids), key)) if key is not None else None
        if hit is not None and hit[0] is ids:
            _DICTIONARY_CACHE.move_to_end((id(ids), key))
            return hit[1]
    values = dictionary.to_pylist()
    index = kind.lookup(city, values)
    if dictionary.null_count:
        index[np.fromiter((v is None for v in values), bool, len(values))] = MISSING_ID
    if key is not None:
        with _DICTIONARY_LOCK:
            _DICTIONARY_CACHE[(id(ids), key)] = (ids, index)
            if len(_DICTIONARY_CACHE) > _DICTIONARY_CACHE_SIZE:
                _DICTIONARY_CACHE.popitem(last=False)
    return index


def _content_key(dictionary: pa.Array) -> bytes | None:
    """The exact bytes of a plain string dictionary (offsets, then characters); None for
    layouts not worth keying (sliced, with nulls, large or view strings)."""
    if not pa.types.is_string(dictionary.type) or dictionary.offset or dictionary.null_count:
        return None
    _, offsets, data = dictionary.buffers()
    bounds = np.frombuffer(offsets, np.int32, len(dictionary) + 1)
    chars = b"" if data is None else data.slice(int(bounds[0]), int(bounds[-1] - bounds[0]))
    return bounds.tobytes() + bytes(chars)


def _is_string(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or \
        pa.types.is_string_view(kind)


def _timestamps(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(int64 epoch ms, int8 state) from an integer, tz-aware timestamp or ISO-string column."""
    kind = column.type
    n = len(column)
    null = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else None
    if pa.types.is_integer(kind):
        ms = column.cast(pa.int64()).fill_null(0).to_numpy()
        state = np.where(epoch_ms_ok(ms), TS_OK, TS_BAD).astype(np.int8)
    elif pa.types.is_timestamp(kind) and kind.tz is not None:
        ms = column.cast(pa.timestamp("ms", "UTC"), safe=False).cast(pa.int64()).fill_null(0)
        ms = ms.to_numpy()
        state = np.where(epoch_ms_ok(ms), TS_OK, TS_BAD).astype(np.int8)
    elif pa.types.is_timestamp(kind):  # naive: no offset, so not a point in time
        ms, state = np.zeros(n, np.int64), np.full(n, TS_BAD, np.int8)
    elif _is_string(kind):
        texts = column.fill_null("").to_numpy(zero_copy_only=False)
        ms, ok = iso_to_ms(texts)
        state = np.where(ok, TS_OK, TS_BAD).astype(np.int8)
    else:
        raise FrameError(UNDECODABLE, f"column 'ts' is {kind}, not epoch ms or ISO 8601")
    if null is not None:
        state[null] = TS_MISSING
    return ms, state


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as float32, NaN for null; values beyond float32 become inf."""
    kind = column.type
    if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)
            or pa.types.is_decimal(kind) or pa.types.is_null(kind)):
        raise FrameError(UNDECODABLE, f"column is {kind}, not numbers")
    if kind != pa.float32():
        try:
            column = column.cast(pa.float32(), safe=False)
        except pa.ArrowException as err:
            raise FrameError(UNDECODABLE, f"column of {kind} is not numbers: {err}") from None
    return column.to_numpy(zero_copy_only=False)
