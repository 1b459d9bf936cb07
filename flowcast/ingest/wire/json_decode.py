"""Reading JSON reading records into validated columns (decoding).

Each record is parsed once (orjson when installed); ids, timestamps (epoch ms or ISO 8601 with
an offset) and values are then converted and checked whole columns at a time with numpy.
Encoding is :mod:`flowcast.ingest.wire.json_encode`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from flowcast.city import City
from flowcast.ingest.wire.schema import (
    MISSING_ID,
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

_NUMBER_TYPES = (int, float, type(None))


def json_columns(values: Sequence[bytes | None], positions: np.ndarray, kind: ReadingKind,
                 city: City) -> tuple[Columns, np.ndarray]:
    """Parse JSON records and pull out their columns.

    ``positions``: int32 input position of each value. Returns the rows of the records that
    parse to a JSON object, and the positions of those that do not (undecodable). Raises
    nothing: should the columnar pass fail on some record, the records are decoded one by one
    and only the ones that fail are refused.
    """
    try:
        return _columns(values, positions, kind, city)
    except Exception:  # one odd record must not sink its neighbours
        return _one_by_one(values, positions, kind, city)


def _columns(values: Sequence[bytes | None], positions: np.ndarray, kind: ReadingKind,
             city: City) -> tuple[Columns, np.ndarray]:
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


def _one_by_one(values: Sequence[bytes | None], positions: np.ndarray, kind: ReadingKind,
                city: City) -> tuple[Columns, np.ndarray]:
    """The slow path of :func:`json_columns`: each record alone; one that raises is refused."""
    parts: list[Columns] = []
    refused: list[int] = []
    for value, position in zip(values, positions.tolist(), strict=True):
        try:
            cols, bad = _columns([value], np.array([position], np.int32), kind, city)
        except Exception:  # this record only: undecodable
            refused.append(position)
            continue
        parts.append(cols)
        refused += bad.tolist()
    return Columns.concat(parts, len(kind.value_fields)), np.array(refused, np.int32)


def _parse(values: Sequence[bytes | None]) -> tuple[list[Any], np.ndarray]:
    """Parse each value; returns the documents and a bool mask of those that are objects."""
    try:
        docs = list(map(_loads, values))
    except Exception:  # some value is not JSON (or too deep for the parser): one at a time
        docs = [_try_loads(v) for v in values]
    if set(map(type, docs)) <= {dict}:
        return docs, np.ones(len(docs), bool)
    return docs, np.fromiter((type(d) is dict for d in docs), bool, len(docs))


def _try_loads(value: bytes | None) -> Any:
    try:
        return _loads(value)  # type: ignore[arg-type]
    except Exception:  # ValueError, TypeError, RecursionError from the standard library
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
