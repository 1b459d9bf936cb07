"""Readings as one JSON object per Kafka record.

Encoding is vectorised: every field of every record is laid out as ASCII in one NUL-padded
byte matrix (one row per reading), the padding is squeezed out in one pass and the result is
split into records; there is no Python formatting per reading. Decoding parses each record
once (orjson when installed) and then converts and validates whole columns with numpy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.schema import (
    MISSING_ID,
    ROAD,
    SPOT,
    TS_BAD,
    TS_FIELD,
    TS_MISSING,
    TS_OK,
    Columns,
    ReadingKind,
    epoch_ms_ok,
    iso_to_ms,
)

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # the standard library is 4-5x slower, but correct
    _loads = json.loads

_ID_CELLS_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_NUMBER_TYPES = (int, float, type(None))


# ======================================================================================
# Encoding
# ======================================================================================


def encode_json(batch: RoadBatch | SpotBatch, city: City) -> list[bytes]:
    """One compact JSON object per reading, in batch order (road or spot by the batch type).

    Road: ``{"sensor":"S0101","ts":1764000000000,"flow":14,"occupancy":0.08,"speed":57.5}``;
    spot: ``{"spot":ID,"ts":...,"entries":N,"exits":N}``, or ``{"spot":ID,"ts":...,"count":N}``
    for a head count (all four when a reading has both). NaN is written as ``null``.
    """
    kind = ROAD if isinstance(batch, RoadBatch) else SPOT
    index, ts_ms, values = kind.columns_of(batch)
    if not len(index):
        return []
    ids = _id_cells(kind.ids(city))[index]
    if kind is ROAD:
        return _records(kind.id_field, ids, ts_ms, list(zip(kind.value_fields, values,
                                                            kind.decimals, strict=True)))
    return _spot_records(ids, ts_ms, values)


def _spot_records(ids: np.ndarray, ts_ms: np.ndarray,
                  values: tuple[np.ndarray, ...]) -> list[bytes]:
    entries, exits, count = values
    gate = ~np.isnan(entries) | ~np.isnan(exits)
    has_count = ~np.isnan(count)
    fields = [("entries", entries, 0), ("exits", exits, 0), ("count", count, 0)]
    forms = [(~has_count, fields[:2]), (has_count & ~gate, fields[2:]), (has_count & gate, fields)]
    out = np.empty(len(ids), dtype=object)
    for mask, form in forms:
        if mask.any():
            chosen = [(name, col[mask], dec) for name, col, dec in form]
            out[mask] = np.array(_records(SPOT.id_field, ids[mask], ts_ms[mask], chosen),
                                 dtype=object)
    return out.tolist()


def _records(id_field: str, id_cells: np.ndarray, ts_ms: np.ndarray,
             fields: list[tuple[str, np.ndarray, int]]) -> list[bytes]:
    """Records ``{"<id_field>":<id>,"ts":<ts>,"<name>":<value>,...}`` from cell matrices."""
    n = len(id_cells)
    pieces = [_const(f'{{"{id_field}":', n), id_cells, _const(f',"{TS_FIELD}":', n),
              _int_cells(ts_ms)]
    for name, values, decimals in fields:
        pieces += [_const(f',"{name}":', n), _number_cells(values, decimals)]
    pieces.append(_const("}\n", n))
    matrix = np.concatenate(pieces, axis=1)
    # NUL is only padding: JSON text never holds a raw NUL, json.dumps escapes it in ids
    return matrix[matrix != 0].tobytes().split(b"\n")[:-1]


def _const(text: str, n: int) -> np.ndarray:
    row = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.broadcast_to(row, (n, len(row)))


def _id_cells(ids: np.ndarray) -> np.ndarray:
    """Each id as a quoted, escaped JSON string in a NUL-padded uint8 matrix row; cached per
    registry array (ids never change once a city is loaded)."""
    cached = _ID_CELLS_CACHE.get(id(ids))
    if cached is not None and cached[0] is ids:
        return cached[1]
    quoted = np.array([json.dumps(str(i)).encode("ascii") for i in ids.tolist()], dtype="S")
    if not len(quoted):
        quoted = np.array([b'""'], dtype="S")
    cells = quoted.view(np.uint8).reshape(len(quoted), -1)
    if len(_ID_CELLS_CACHE) > 16:
        _ID_CELLS_CACHE.clear()
    _ID_CELLS_CACHE[id(ids)] = (ids, cells)
    return cells


def _int_cells(values: np.ndarray) -> np.ndarray:
    """Integers as right-aligned ASCII digits in a NUL-padded uint8 matrix. Formats each
    distinct value once: a batch's timestamps take few values."""
    distinct, inverse = np.unique(values.astype(np.int64, copy=False), return_inverse=True)
    cells = _digit_cells(np.abs(distinct), distinct < 0, np.zeros(len(distinct), bool), 0)
    return cells[inverse]


def _number_cells(values: np.ndarray, decimals: int) -> np.ndarray:
    """Numbers rounded to ``decimals`` places, trailing fraction zeros dropped (``14``,
    ``0.08``, ``57.5``), NaN as ``null``; a NUL-padded uint8 matrix, one row per value."""
    x = values.astype(np.float64)
    scaled = np.rint(x * 10.0**decimals)
    null = ~np.isfinite(scaled) | (np.abs(scaled) >= 1e17)  # beyond int64 digits: not a reading
    scaled[null] = 0.0
    return _digit_cells(np.abs(scaled).astype(np.int64), scaled < 0, null, decimals)


def _digit_cells(magnitude: np.ndarray, negative: np.ndarray, null: np.ndarray,
                 decimals: int) -> np.ndarray:
    """ASCII of ``magnitude / 10**decimals`` with sign, NUL where a character is padding."""
    n = len(magnitude)
    top = int(magnitude.max()) if n else 0
    width = max(len(str(top)), decimals + 1)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (magnitude[:, None] // powers) % 10
    whole = width - decimals
    keep = np.empty((n, width), bool)
    # leading zeros of the whole part and trailing zeros of the fraction are padding
    keep[:, :whole] = np.maximum.accumulate(digits[:, :whole] != 0, axis=1)
    keep[:, whole - 1] = True
    keep[:, whole:] = np.maximum.accumulate(digits[:, :whole - 1:-1] != 0, axis=1)[:, ::-1]
    chars = np.where(keep, digits + 48, 0).astype(np.uint8)
    sign = np.where(negative, ord("-"), 0).astype(np.uint8)[:, None]
    parts = [sign, chars[:, :whole]]
    if decimals:
        dot = np.where(keep[:, whole], ord("."), 0).astype(np.uint8)[:, None]
        parts += [dot, chars[:, whole:]]
    cells = np.concatenate(parts, axis=1)
    if null.any():
        if cells.shape[1] < 4:
            cells = np.concatenate([np.zeros((n, 4 - cells.shape[1]), np.uint8), cells], axis=1)
        cells[null] = 0
        cells[null, -4:] = np.frombuffer(b"null", np.uint8)
    return cells


# ======================================================================================
# Decoding
# ======================================================================================


def json_columns(values: Sequence[bytes | None], positions: np.ndarray, kind: ReadingKind,
                 city: City) -> tuple[Columns, np.ndarray]:
    """Parse JSON records and pull out their columns.

    ``positions``: int32 input position of each value. Returns the rows of the records that
    parse to a JSON object, and the positions of those that do not (undecodable).
    """
    docs, parsed = _parse(values)
    if not parsed.all():
        docs = [d for d, ok in zip(docs, parsed.tolist(), strict=True) if ok]
    index = _id_index([d.get(kind.id_field) for d in docs], kind, city)
    ts_ms, ts_state = _timestamps([d.get(TS_FIELD) for d in docs])
    typed = np.ones(len(docs), bool)
    columns = []
    for name in kind.value_fields:
        column, ok = _floats([d.get(name) for d in docs])
        columns.append(column)
        typed &= ok
    kept = positions[parsed].astype(np.int32)
    cols = Columns(kept, np.full(len(kept), -1, np.int32), index, ts_ms, ts_state,
                   tuple(columns), typed)
    return cols, positions[~parsed].astype(np.int32)


def _parse(values: Sequence[bytes | None]) -> tuple[list[Any], np.ndarray]:
    """Parse each value; returns the documents and a bool mask of those that are objects."""
    try:
        docs = list(map(_loads, values))
    except (ValueError, TypeError):
        docs = [_try_loads(v) for v in values]
    if set(map(type, docs)) <= {dict}:
        return docs, np.ones(len(docs), bool)
    return docs, np.fromiter((type(d) is dict for d in docs), bool, len(docs))


def _try_loads(value: bytes | None) -> Any:
    try:
        return _loads(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


def _id_index(ids: list[Any], kind: ReadingKind, city: City) -> np.ndarray:
    """int32 index per id: -1 for an unknown id (or one that is not a string),
    MISSING_ID where absent or null."""
    index = kind.lookup(city, ids)
    if not set(map(type, ids)) <= {str}:
        index[np.fromiter((i is None for i in ids), bool, len(ids))] = MISSING_ID
    return index


def _timestamps(ts: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(int64 epoch ms, int8 state) from JSON ``ts`` values: epoch-ms integers or ISO 8601
    strings with an offset."""
    n = len(ts)
    if set(map(type, ts)) <= {int}:
        try:
            ms = np.array(ts, dtype=np.int64)
        except OverflowError:
            pass
        else:
            return ms, np.where(epoch_ms_ok(ms), TS_OK, TS_BAD).astype(np.int8)
    kinds = np.fromiter(map(_ts_kind, ts), np.int8, n)
    ms = np.zeros(n, np.int64)
    state = np.full(n, TS_BAD, np.int8)
    state[kinds == 2] = TS_MISSING
    ints = np.flatnonzero(kinds == 0)
    if len(ints):
        raw = np.array([ts[i] for i in ints.tolist()], dtype=object)
        fits = ((raw >= 0) & (raw < 2**62)).astype(bool)
        good = np.zeros(len(raw), np.int64)
        good[fits] = raw[fits].astype(np.int64)
        ok = fits & epoch_ms_ok(good)
        ms[ints] = good
        state[ints[ok]] = TS_OK
    texts = np.flatnonzero(kinds == 1)
    if len(texts):
        parsed, ok = iso_to_ms(np.array([ts[i] for i in texts.tolist()], dtype=object))
        ms[texts] = parsed
        state[texts[ok]] = TS_OK
    return ms, state


def _ts_kind(value: Any) -> int:
    """0 integer, 1 string, 2 null, 3 anything else."""
    kind = type(value)
    return 0 if kind is int else 1 if kind is str else 2 if value is None else 3


def _floats(column: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(float32 values with NaN for null, bool ok) from JSON scalars; a value that is not a
    number (string, bool, object) is NaN and not ok, a number beyond float range is inf."""
    n = len(column)
    if set(map(type, column)) <= set(_NUMBER_TYPES):
        try:
            values = np.array(column, dtype=np.float64)
        except OverflowError:
            pass
        else:
            with np.errstate(over="ignore"):  # beyond float32: inf, refused as out of range
                return values.astype(np.float32), np.ones(n, bool)
    ok = np.fromiter((type(v) in _NUMBER_TYPES for v in column), bool, n)
    values = np.array([_to_float(v) if good else np.nan
                       for v, good in zip(column, ok.tolist(), strict=True)], dtype=np.float64)
    with np.errstate(over="ignore"):
        return values.astype(np.float32), ok


def _to_float(value: int | float | None) -> float:
    if value is None:
        return np.nan
    try:
        return float(value)
    except OverflowError:
        return np.inf
