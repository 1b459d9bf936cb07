"""Readings as Apache Arrow IPC stream frames: many readings in one Kafka record (encoding).

A frame has the JSON field names as columns: the id (``sensor`` or ``spot``, dictionary-encoded
string holding only the ids present), ``ts`` (int64 epoch ms) and the value columns (float32,
NaN written as null). Frames can be cut per region or per spot so that every reading of a
frame shares its Kafka key. Decoding is :mod:`flowcast.ingest.wire.arrow_decode`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.schema import ROAD, SPOT, TS_FIELD, ReadingKind

_ID_ARRAY_CACHE: dict[int, tuple[np.ndarray, pa.Array]] = {}


def schema(kind: ReadingKind) -> pa.Schema:
    """The schema the encoder writes for road or spot frames."""
    fields = [pa.field(kind.id_field, pa.dictionary(pa.int32(), pa.string()), nullable=False),
              pa.field(TS_FIELD, pa.int64(), nullable=False)]
    fields += [pa.field(name, pa.float32()) for name in kind.value_fields]
    return pa.schema(fields)


_SCHEMAS = {ROAD.name: schema(ROAD), SPOT.name: schema(SPOT)}


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
