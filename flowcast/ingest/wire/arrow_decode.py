"""Reading Apache Arrow IPC stream frames of readings into columns (decoding).

A frame has the JSON field names as columns: the id (``sensor`` or ``spot``, string or
dictionary-encoded string), ``ts`` (int64 epoch ms; a tz-aware timestamp or ISO 8601 strings
are accepted too) and the value columns (float32, nullable; any numeric type is accepted).
Decoding is fully columnar: ids are resolved once per distinct id through the city's
vectorised lookup. Nothing computes on a frame before :mod:`flowcast.ingest.wire.arrow_frame`
has validated all of it and the column types are checked; any failure is a
:class:`FrameError`. Encoding is :mod:`flowcast.ingest.wire.arrow_encode`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pyarrow as pa

from flowcast.city import City
from flowcast.ingest.wire.arrow_frame import FrameError, describe_error, read_frame
from flowcast.ingest.wire.schema import (
    MISSING_FIELD,
    MISSING_ID,
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

_DICTIONARY_CACHE: OrderedDict[tuple[int, bytes], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_DICTIONARY_CACHE_SIZE = 1024
_DICTIONARY_LOCK = threading.Lock()


def arrow_columns(value: bytes | None, position: int, kind: ReadingKind, city: City) -> Columns:
    """The rows of one frame. Raises :class:`FrameError`, and nothing else, when the frame as
    a whole is bad: not a valid Arrow stream (see :func:`read_frame`), no rows, a column of
    the wrong type (undecodable), or no id or ``ts`` column (missing field)."""
    table = read_frame(value)
    try:
        return _columns(table, position, kind, city)
    except FrameError:
        raise
    except Exception as err:  # a validated frame should not get here; if one does, refuse it
        raise FrameError(UNDECODABLE, f"frame could not be decoded: {describe_error(err)}") \
            from None


def _columns(table: pa.Table, position: int, kind: ReadingKind, city: City) -> Columns:
    names = set(table.column_names)
    for required in (kind.id_field, TS_FIELD):
        if required not in names:
            raise FrameError(MISSING_FIELD, f"frame has no column {required!r}")
    present = [name for name in kind.value_fields if name in names]
    _check_types(table.schema, kind, present)
    n = table.num_rows
    if not n:
        raise FrameError(UNDECODABLE, "frame holds no rows")
    index = _id_index(table.column(kind.id_field), kind, city)
    ts_ms, ts_state = _timestamps(table.column(TS_FIELD))
    values = tuple(_floats(table.column(name)) if name in present
                   else np.full(n, np.nan, np.float32) for name in kind.value_fields)
    return Columns(np.full(n, position, np.int32), np.arange(n, dtype=np.int32), index, ts_ms,
                   ts_state, values, np.ones(n, bool))


def _check_types(schema: pa.Schema, kind: ReadingKind, present: list[str]) -> None:
    """Refuse (undecodable) a frame whose columns are not of a type this decoder reads,
    before any compute touches them."""
    id_type = schema.field(kind.id_field).type
    value_type = id_type.value_type if pa.types.is_dictionary(id_type) else id_type
    if not _is_string(value_type):
        raise FrameError(UNDECODABLE, f"column {kind.id_field!r} is {id_type}, not strings")
    ts_type = schema.field(TS_FIELD).type
    if not (pa.types.is_integer(ts_type) or pa.types.is_timestamp(ts_type)
            or _is_string(ts_type)):
        raise FrameError(UNDECODABLE, f"column 'ts' is {ts_type}, not epoch ms or ISO 8601")
    for name in present:
        kind_of = schema.field(name).type
        if not (pa.types.is_floating(kind_of) or pa.types.is_integer(kind_of)
                or pa.types.is_decimal(kind_of) or pa.types.is_null(kind_of)):
            raise FrameError(UNDECODABLE, f"column {name!r} is {kind_of}, not numbers")


def _id_index(column: pa.ChunkedArray, kind: ReadingKind, city: City) -> np.ndarray:
    """int32 id index per row: -1 unknown, MISSING_ID null. Looks up each distinct id once."""
    parts = [_chunk_id_index(chunk, kind, city) for chunk in column.chunks]
    return np.concatenate(parts) if parts else np.empty(0, np.int32)


def _chunk_id_index(chunk: pa.Array, kind: ReadingKind, city: City) -> np.ndarray:
    if not pa.types.is_dictionary(chunk.type):  # plain strings (types checked before)
        chunk = chunk.dictionary_encode()
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
    if kind != pa.float32():
        try:
            column = column.cast(pa.float32(), safe=False)
        except pa.ArrowException as err:
            raise FrameError(UNDECODABLE, f"column of {kind} is not numbers: {err}") from None
    return column.to_numpy(zero_copy_only=False)
