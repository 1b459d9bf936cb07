"""A dataset as reading records: every reading in its own bucket, missing values as nulls or
absent, one Arrow frame per region per bucket that decodes back to the dataset's values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from flowcast.city import City
from flowcast.errors import DatasetError
from flowcast.formats.dataset import FlowDataset
from flowcast.ingest.dataset_source import (
    bucket_frames,
    bucket_readings,
    iter_bucket_frames,
    reading_time_ms,
    records_per_partition,
    road_series,
)
from flowcast.ingest.simulator import generate_city, simulate_history
from flowcast.ingest.wire.codec import ARROW_HEADERS, decode_road_records
from flowcast.transport.bus.log import partition_for

TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(30, 1, seed=3)


@pytest.fixture(scope="module")
def data(city: City) -> FlowDataset:
    """Two hours of 5-min buckets, with some holes punched in."""
    dataset = simulate_history(city, dt.datetime(2026, 10, 5, 8, 0, tzinfo=TZ), days=2 / 24,
                               seed=3, progress=False)
    roads = dataset.roads.copy(deep=True)
    roads["speed"].values[0, 2] = np.nan  # one field missing
    for name in ("speed", "flow", "occupancy"):
        roads[name].values[1, 3] = np.nan  # no data at all
    dataset.roads = roads
    return dataset


def test_a_reading_lands_in_its_own_bucket_never_on_a_boundary() -> None:
    bucket_ms = 300_000
    starts = np.arange(5, dtype=np.int64) * bucket_ms + 1_764_000_000_000
    ts = reading_time_ms(starts, bucket_ms)
    assert np.array_equal(ts // bucket_ms, starts // bucket_ms)
    assert np.all(ts % bucket_ms != 0)  # a reading at a boundary would count in the next one


def test_bucket_readings_carry_the_dataset_values(data: FlowDataset, city: City) -> None:
    series = road_series(data.roads, city)
    assert series.bucket_ms == 300_000 and series.n_buckets == data.roads.sizes["time"]
    batch = bucket_readings(series, 2)
    assert len(batch) == series.n_sensors
    assert np.isnan(batch.speed[0]) and not np.isnan(batch.flow[0])  # sent as a null
    np.testing.assert_array_equal(batch.flow, data.roads["flow"].values[:, 2])
    assert np.all(batch.ts_ms // series.bucket_ms == series.start_ms[2] // series.bucket_ms)
    empty = bucket_readings(series, 3)
    assert len(empty) == series.n_sensors - 1  # a sensor without any value sends nothing
    assert series.sensor[1] not in empty.sensor


def test_frames_decode_back_to_the_dataset(data: FlowDataset, city: City) -> None:
    series = road_series(data.roads, city)
    frames = bucket_frames(series, 2, city)
    assert len(frames.frames) == len({city.sensor_region[s] for s in series.sensor})
    decoded = decode_road_records([f for _, f in frames.frames],
                                  [ARROW_HEADERS] * len(frames.frames), city)
    assert len(decoded.rejects) == 0
    batch = decoded.batch
    order = np.argsort(batch.sensor)
    row = {s: i for i, s in enumerate(series.sensor.tolist())}
    rows = np.array([row[s] for s in batch.sensor[order].tolist()])
    for name in ("flow", "occupancy", "speed"):
        np.testing.assert_array_equal(getattr(batch, name)[order],
                                      series.values[name][rows, 2])
    assert np.all(batch.ts_ms == frames.ts_ms)
    for key, frame in frames.frames:  # every frame holds one region, its key
        one = decode_road_records([frame], [ARROW_HEADERS], city).batch
        regions = {str(city.regions[city.sensor_region[s]]) for s in one.sensor.tolist()}
        assert regions == {key.decode()}


def test_record_counts_per_partition_match_the_frames(data: FlowDataset, city: City) -> None:
    series = road_series(data.roads, city)
    partitions = 6
    sent = np.zeros(partitions, np.int64)
    for bucket in iter_bucket_frames(series, city, 1, 20):
        for key, _ in bucket.frames:
            sent[partition_for(key, partitions)] += 1
    assert sent.sum() > 0
    np.testing.assert_array_equal(records_per_partition(series, city, partitions, 1, 20), sent)
    assert records_per_partition(series, city, partitions, 5, 5).sum() == 0


def test_sensors_unknown_to_the_city_are_refused(data: FlowDataset, city: City) -> None:
    roads = data.roads.assign_coords(sensor=["X999", *data.roads["sensor"].values[1:]])
    with pytest.raises(DatasetError, match="'X999'"):
        road_series(roads, city)
