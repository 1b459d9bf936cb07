"""Readings as one JSON object per Kafka record (encoding).

Encoding is vectorised: every field of every record is laid out as ASCII in one NUL-padded
byte matrix (one row per reading), the padding is squeezed out in one pass and the result is
split into records; there is no Python formatting per reading. Decoding is
:mod:`flowcast.ingest.wire.json_decode`.
"""

from __future__ import annotations

import json

import numpy as np

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.schema import ROAD, SPOT, TS_FIELD

_ID_CELLS_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


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
