"""A history dataset as reading records in event-time order: what ``flowcast replay`` streams.

Each bucket of a dataset's ``roads.nc`` (dims ``(sensor, time)``, ``time`` = bucket start) becomes
one reading per sensor, stamped in the **middle** of its bucket. The engine buckets a reading at
``floor(ts / bucket)``, buckets being ``[k*b, (k+1)*b)``: a reading stamped at the bucket's end
(the dataset's next time) would land in the next bucket, one stamped at its start would sit on
the boundary; the middle lies inside whatever the rounding. With one reading per bucket, the
bucket the engine closes holds exactly the dataset's values (flow summed over one reading, speed
weighted by that reading's flow, occupancy averaged over one).

Missing values: a NaN is sent as a null field, and a sensor with every variable NaN in a bucket
sends nothing (it had no data), so the engine sees "no data" exactly where the backtest sees a
missing value. Readings are grouped into one Arrow frame per region per bucket, keyed by region
(the wire contract's batch frame), so every sensor's readings share a partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import xarray as xr

from flowcast.city import City
from flowcast.errors import DatasetError
from flowcast.ingest.readings import RoadBatch
from flowcast.ingest.wire.codec import encode_road_arrow_by_region
from flowcast.transport.bus.log import partition_for

ROAD_FIELDS = ("flow", "occupancy", "speed")


@dataclass(frozen=True)
class RoadSeries:
    """A dataset's road series lined up with a city: ``sensor`` ``(N,)`` int32 the city index of
    each dataset row; ``start_ms`` ``(T,)`` int64 bucket starts, epoch ms UTC; ``bucket_ms``;
    ``values`` ``{"flow", "occupancy", "speed"}`` each ``(N, T)`` float32, NaN = no data (a
    variable the dataset lacks is all NaN)."""

    sensor: np.ndarray
    start_ms: np.ndarray
    bucket_ms: int
    values: dict[str, np.ndarray]

    @property
    def n_buckets(self) -> int:
        """Number of buckets ``T``."""
        return len(self.start_ms)

    @property
    def n_sensors(self) -> int:
        """Number of sensors ``N``."""
        return len(self.sensor)


def road_series(roads: xr.Dataset, city: City) -> RoadSeries:
    """The road series of ``roads`` mapped onto ``city``'s sensors. Raises
    :class:`~flowcast.errors.DatasetError` when the dataset names sensors the city does not
    know (the engine would dead-letter every one of their readings)."""
    ids = np.asarray(roads["sensor"].values).astype(str)
    index = city.sensor_index(ids).astype(np.int32)
    unknown = ids[index < 0]
    if len(unknown):
        raise DatasetError(f"{len(unknown)} sensor(s) of the dataset are not in its city file "
                           f"(first: {unknown[0]!r}); replay needs the city the data was "
                           "recorded in (DATASET/city.geojson)")
    start_ms = (np.asarray(roads["time"].values).astype("datetime64[ms]").astype(np.int64))
    shape = (len(ids), len(start_ms))
    values = {name: (np.asarray(roads[name].values, np.float32) if name in roads.data_vars
                     else np.full(shape, np.nan, np.float32))
              for name in ROAD_FIELDS}
    return RoadSeries(index, start_ms, int(roads.attrs["interval_s"]) * 1000, values)


def reading_time_ms(bucket_start_ms: int | np.ndarray, bucket_ms: int) -> int | np.ndarray:
    """The timestamp a bucket's readings carry: the middle of ``[start, start + bucket)``,
    epoch ms, so ``floor(ts / bucket)`` is that bucket whatever the rounding."""
    return bucket_start_ms + bucket_ms // 2


def bucket_readings(series: RoadSeries, column: int) -> RoadBatch:
    """The readings of bucket ``column`` ``(<= N,)``: one per sensor with any value, NaN
    fields left NaN (encoded as nulls); sensors with no value at all are left out."""
    flow = series.values["flow"][:, column]
    occupancy = series.values["occupancy"][:, column]
    speed = series.values["speed"][:, column]
    present = ~(np.isnan(flow) & np.isnan(occupancy) & np.isnan(speed))
    ts = np.full(int(present.sum()), reading_time_ms(int(series.start_ms[column]),
                                                     series.bucket_ms), np.int64)
    return RoadBatch(series.sensor[present], ts, flow[present], occupancy[present],
                     speed[present])


@dataclass(frozen=True)
class BucketFrames:
    """The records of one bucket: its ``column``, the readings' timestamp ``ts_ms``, how many
    ``readings`` it holds, and ``frames`` as (region key, Arrow IPC frame) pairs."""

    column: int
    ts_ms: int
    readings: int
    frames: list[tuple[bytes, bytes]]


def bucket_frames(series: RoadSeries, column: int, city: City) -> BucketFrames:
    """Bucket ``column`` as one Arrow frame per region present (empty list when no sensor
    had data)."""
    batch = bucket_readings(series, column)
    ts = int(reading_time_ms(int(series.start_ms[column]), series.bucket_ms))
    frames = encode_road_arrow_by_region(batch, city) if len(batch) else []
    return BucketFrames(column, ts, len(batch), frames)


def iter_bucket_frames(series: RoadSeries, city: City, start: int = 0,
                       stop: int | None = None) -> Iterator[BucketFrames]:
    """:func:`bucket_frames` of the columns ``start .. stop - 1`` (default: to the end), in
    event-time order."""
    stop = series.n_buckets if stop is None else min(int(stop), series.n_buckets)
    for column in range(max(int(start), 0), stop):
        yield bucket_frames(series, column, city)


def records_per_partition(series: RoadSeries, city: City, partitions: int, start: int = 0,
                          stop: int | None = None) -> np.ndarray:
    """``(partitions,)`` int64: how many records :func:`iter_bucket_frames` sends to each
    partition of a topic with ``partitions`` partitions for the columns ``start .. stop - 1``
    (one frame per region with data per bucket, keyed by region as Kafka's default partitioner
    places it), without encoding anything."""
    stop = series.n_buckets if stop is None else min(int(stop), series.n_buckets)
    start = max(int(start), 0)
    out = np.zeros(partitions, np.int64)
    if stop <= start:
        return out
    present = np.zeros((series.n_sensors, stop - start), bool)
    for name in ROAD_FIELDS:
        present |= ~np.isnan(series.values[name][:, start:stop])
    region = city.sensor_region[series.sensor]
    by_region = np.zeros((city.n_regions, stop - start), bool)
    np.logical_or.at(by_region, region, present)
    frames = by_region.sum(axis=1)
    owner = np.array([partition_for(str(r).encode(), partitions) for r in city.regions.tolist()],
                     np.int64)
    np.add.at(out, owner, frames)
    return out
