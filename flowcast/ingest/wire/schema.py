"""The readings' wire contract, shared by the JSON and the Arrow codecs.

Field names, valid ranges and rejection reasons live here, together with the columnar
validation both decoders end in: a codec only pulls raw columns out of its records
(:class:`Columns`), and :func:`validate` decides, vectorised, which rows are readings and why
the others are not. What a decoder returns is :mod:`flowcast.ingest.wire.decode_result`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch

ARROW_CONTENT_TYPE = "application/vnd.apache.arrow.stream"
"""Value of the ``content-type`` header that marks a record as an Arrow IPC stream frame."""
CONTENT_TYPE_HEADER = "content-type"
ARROW_HEADERS: list[tuple[str, bytes]] = [(CONTENT_TYPE_HEADER, ARROW_CONTENT_TYPE.encode())]
"""The headers to send with a batch frame."""
TS_FIELD = "ts"

UNDECODABLE = "undecodable"
MISSING_FIELD = "missing_field"
UNKNOWN_SENSOR = "unknown_sensor"
UNKNOWN_SPOT = "unknown_spot"
BAD_TIMESTAMP = "bad_timestamp"
OUT_OF_RANGE = "out_of_range"
REASONS: tuple[str, ...] = (UNDECODABLE, MISSING_FIELD, UNKNOWN_SENSOR, UNKNOWN_SPOT,
                            BAD_TIMESTAMP, OUT_OF_RANGE)
"""Every rejection reason; :attr:`Rejects.reason` holds codes into this tuple."""

MAX_TS_MS = 4_102_444_800_000
"""2100-01-01 UTC: epoch-ms timestamps must lie in ``[0, MAX_TS_MS)``."""

MISSING_ID = -2
"""Index value of a row whose id field is absent or null (``-1`` is an unknown id)."""
TS_OK, TS_MISSING, TS_BAD = 0, 1, 2

_ISO_8601 = (r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}([.,]\d{1,9})?)?"
             r"([Zz]|[+-]\d{2}(:?\d{2})?)$")


@dataclass(frozen=True)
class ReadingKind:
    """What distinguishes road readings from spot readings on the wire.

    ``lower``/``upper`` bound each value field (inclusive); ``decimals`` is how many
    decimals the JSON encoder keeps for each.
    """

    name: str
    id_field: str
    value_fields: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    decimals: tuple[int, ...]
    unknown_reason: str

    def ids(self, city: City) -> np.ndarray:
        """The city's ids of this kind, object array."""
        return city.sensor_ids if self.name == "road" else city.spot_ids

    def lookup(self, city: City, ids: Sequence[object]) -> np.ndarray:
        """Dense int32 indices for a list of ids; -1 where unknown (or not a string)."""
        get = id_table(self.ids(city)).get
        return np.array([get(i, -1) if type(i) is str else -1 for i in ids], dtype=np.int32)

    def region_of(self, city: City) -> np.ndarray:
        """Region index of each id of this kind, int32."""
        return city.sensor_region if self.name == "road" else city.spot_region

    def make_batch(self, index: np.ndarray, ts_ms: np.ndarray,
                   values: tuple[np.ndarray, ...]) -> RoadBatch | SpotBatch:
        """A batch from aligned int32 indices, int64 times and float32 value columns."""
        cls = RoadBatch if self.name == "road" else SpotBatch
        return cls(index.astype(np.int32, copy=False), ts_ms.astype(np.int64, copy=False),
                   *(v.astype(np.float32, copy=False) for v in values))

    def columns_of(self, batch: RoadBatch | SpotBatch) -> tuple[np.ndarray, np.ndarray,
                                                                tuple[np.ndarray, ...]]:
        """(index, ts_ms, value columns) of a batch of this kind."""
        if isinstance(batch, RoadBatch):
            return batch.sensor, batch.ts_ms, (batch.flow, batch.occupancy, batch.speed)
        return batch.spot, batch.ts_ms, (batch.entries, batch.exits, batch.count)


ROAD = ReadingKind("road", "sensor", ("flow", "occupancy", "speed"),
                   lower=(0.0, 0.0, 0.0), upper=(np.inf, 1.0, 250.0), decimals=(1, 4, 1),
                   unknown_reason=UNKNOWN_SENSOR)
"""Road readings: ``flow`` vehicles >= 0, ``occupancy`` 0..1, ``speed`` 0..250 km/h."""
SPOT = ReadingKind("spot", "spot", ("entries", "exits", "count"),
                   lower=(0.0, 0.0, 0.0), upper=(np.inf, np.inf, np.inf), decimals=(0, 0, 0),
                   unknown_reason=UNKNOWN_SPOT)
"""Spot readings: ``entries``/``exits`` people per gate interval, ``count`` head count."""


@dataclass
class Columns:
    """Rows pulled out of records, before validation; all arrays have one entry per row.

    ``position``: int32 input record of the row; ``row``: int32 row inside an Arrow frame
    (-1 for a JSON record); ``index``: int32 id index, -1 unknown id, :data:`MISSING_ID` absent;
    ``ts_ms``: int64 event time (meaningful where ``ts_state == TS_OK``); ``ts_state``: int8
    TS_OK / TS_MISSING / TS_BAD; ``values``: float32 value columns, NaN = null;
    ``typed``: bool, False where some value was not a number.
    """

    position: np.ndarray
    row: np.ndarray
    index: np.ndarray
    ts_ms: np.ndarray
    ts_state: np.ndarray
    values: tuple[np.ndarray, ...]
    typed: np.ndarray

    def __len__(self) -> int:
        return len(self.position)

    @staticmethod
    def concat(parts: list[Columns], n_values: int) -> Columns:
        """All parts' rows, in the order given."""
        if not parts:
            return Columns(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int32),
                           np.empty(0, np.int64), np.empty(0, np.int8),
                           tuple(np.empty(0, np.float32) for _ in range(n_values)),
                           np.empty(0, bool))
        if len(parts) == 1:
            return parts[0]
        cat = np.concatenate
        return Columns(cat([p.position for p in parts]), cat([p.row for p in parts]),
                       cat([p.index for p in parts]), cat([p.ts_ms for p in parts]),
                       cat([p.ts_state for p in parts]),
                       tuple(cat([p.values[i] for p in parts]) for i in range(n_values)),
                       cat([p.typed for p in parts]))


_ID_TABLES: dict[int, tuple[np.ndarray, dict[str, int]]] = {}


def id_table(ids: np.ndarray) -> dict[str, int]:
    """``{id: dense index}`` for a registry id array, built once per array.

    A dict lookup costs ~0.1 us per id; ``City.sensor_index`` (pandas) several times that,
    which matters at a few hundred thousand readings per second.
    """
    cached = _ID_TABLES.get(id(ids))
    if cached is not None and cached[0] is ids:
        return cached[1]
    table = {str(key): i for i, key in enumerate(ids.tolist())}
    if len(_ID_TABLES) > 16:
        _ID_TABLES.clear()
    _ID_TABLES[id(ids)] = (ids, table)
    return table


def reason_code(reason: str) -> int:
    """The code of a reason name in :data:`REASONS`."""
    return REASONS.index(reason)


def validate(cols: Columns, kind: ReadingKind) -> tuple[np.ndarray, np.ndarray]:
    """Check every row: returns (bool mask of valid rows, int8 reason code per row, -1 where
    valid). The first failing check wins: missing field, unknown id, bad timestamp, out of
    range."""
    reason = np.full(len(cols), -1, np.int8)
    out_of_range = ~cols.typed
    for values, lo, hi in zip(cols.values, kind.lower, kind.upper, strict=True):
        out_of_range |= (values < lo) | (values > hi) | np.isinf(values)
    # later assignments win, so assign in reverse order of precedence
    reason[out_of_range] = reason_code(OUT_OF_RANGE)
    reason[cols.ts_state == TS_BAD] = reason_code(BAD_TIMESTAMP)
    reason[cols.index == -1] = reason_code(kind.unknown_reason)
    reason[(cols.index == MISSING_ID) | (cols.ts_state == TS_MISSING)] = reason_code(MISSING_FIELD)
    return reason < 0, reason


def epoch_ms_ok(ms: np.ndarray) -> np.ndarray:
    """Bool mask of int64 epoch-ms values inside ``[0, MAX_TS_MS)``."""
    return (ms >= 0) & (ms < MAX_TS_MS)


def iso_to_ms(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse ISO 8601 timestamps that carry an offset (``Z`` or ``+08:00``), vectorised.

    ``texts``: object array of str. Returns (int64 epoch ms, bool ok); a string without an
    offset, with impossible fields, or outside ``[1970, 2100)`` is not ok.
    """
    ms = np.zeros(len(texts), np.int64)
    if not len(texts):
        return ms, np.zeros(0, bool)
    shaped = pc.match_substring_regex(pa.array(texts, pa.string()), _ISO_8601)
    ok = shaped.to_numpy(zero_copy_only=False).astype(bool)
    if ok.any():
        parsed = pd.to_datetime(pd.Series(texts[ok], dtype=object), format="ISO8601", utc=True,
                                errors="coerce")
        good = ~parsed.isna().to_numpy()
        as_ms = np.asarray(parsed.dt.tz_localize(None)).astype("datetime64[ms]").astype(np.int64)
        ms[ok] = np.where(good, as_ms, 0)
        ok[ok] = good & epoch_ms_ok(as_ms)
    return ms, ok
