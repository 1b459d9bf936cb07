"""History datasets: bucketed series, metadata, graph, and the city, written and read back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowcast.city import City
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_read import city_from_geojson
from flowcast.formats.dataset import FlowDataset, graph_of, load_dataset, save_dataset
from flowcast.ingest.simulator import FaultConfig, Simulator, SimulatorConfig, simulate_history

from .conftest import WORKDAY, chain_city, local


def test_shapes_coords_and_attributes(city: City, days: dict[dt.date, FlowDataset]) -> None:
    ds = days[WORKDAY]
    roads, spots = ds.roads, ds.spots
    assert roads is not None and spots is not None
    assert roads.flow.shape == (city.n_sensors, 288)
    assert spots.visitors.shape == (city.n_spots, 96)
    assert roads.attrs["interval_s"] == 300 and spots.attrs["interval_s"] == 900
    assert roads.attrs["timezone"] == "Asia/Shanghai"
    first = pd.Timestamp(roads.time.values[0]).tz_localize("UTC")
    assert first == pd.Timestamp(local(WORKDAY))
    assert np.all(np.diff(roads.time.values) == np.timedelta64(5, "m"))
    seg = city.sensor_segment
    assert list(roads.sensor.values) == list(city.sensor_ids)
    assert list(roads.segment.values) == list(city.segment_ids[seg])
    assert set(roads.road_class.values) <= {"expressway", "arterial", "secondary", "branch"}
    assert np.array_equal(roads.lanes.values, city.segment_lanes[seg])
    assert np.array_equal(roads.free_flow_kmh.values, city.segment_free_flow_kmh[seg])
    assert np.array_equal(roads.length_m.values, city.segment_length_m[seg])
    assert list(roads.region.values) == list(city.regions[city.sensor_region])
    graph = graph_of(roads)
    assert graph is not None
    assert np.array_equal(graph[0], city.sensor_neighbours.indptr)
    assert np.array_equal(graph[1], city.sensor_neighbours.indices)
    assert np.array_equal(spots.capacity_instant.values, city.spot_capacity_instant)
    assert ds.city_geojson is not None
    assert list(city_from_geojson(json.loads(ds.city_geojson)).sensor_ids) == list(city.sensor_ids)


def test_values_are_physical(days: dict[dt.date, FlowDataset]) -> None:
    roads = days[WORKDAY].roads
    assert roads is not None
    occupancy = roads.occupancy.values[~np.isnan(roads.occupancy.values)]
    assert occupancy.min() >= 0 and occupancy.max() <= 1
    assert np.nanmin(roads.flow.values) >= 0
    assert np.mean(np.isnan(roads.flow.values)) < 0.02  # dropouts rarely empty a bucket


def test_buckets_aggregate_the_readings() -> None:
    """Flow sums, occupancy averages, speed is flow-weighted; NaN where nothing came."""
    city = chain_city(3)
    config = SimulatorConfig(faults=FaultConfig(dropout=0.3, nan=0.1, stuck=0.0, zeros=0.0,
                                                spike=0.0))
    start = local(WORKDAY, 8)
    ds = simulate_history(city, start, 1 / 24, seed=3, config=config, progress=False)
    sim = Simulator(city, start, seed=3, config=config)
    road, _ = sim.step_until(start + dt.timedelta(hours=1))
    assert ds.roads is not None
    start_ms = int(start.timestamp() * 1000)
    bucket = (road.ts_ms - 60_000 - start_ms) // 300_000  # a reading's interval ends at ts
    for s in range(3):
        for b in range(12):
            pick = (road.sensor == s) & (bucket == b)
            flow, occ, speed = road.flow[pick], road.occupancy[pick], road.speed[pick]
            cell = ds.roads.isel(sensor=s, time=b)
            ok = ~np.isnan(flow)
            if ok.any():
                assert float(cell.flow) == pytest.approx(flow[ok].sum())
            else:
                assert np.isnan(float(cell.flow))
            if (~np.isnan(occ)).any():
                assert float(cell.occupancy) == pytest.approx(np.nanmean(occ), rel=1e-5)
            both = ok & ~np.isnan(speed)
            if flow[both].sum() > 0:
                expected = (flow[both] * speed[both]).sum() / flow[both].sum()
                assert float(cell.speed) == pytest.approx(expected, rel=1e-5)


def test_a_silent_detector_leaves_nan() -> None:
    city = chain_city(2)
    config = SimulatorConfig(faults=FaultConfig(dropout=0.999))
    ds = simulate_history(city, local(WORKDAY), 1 / 24, seed=0, config=config, progress=False)
    assert ds.roads is not None
    assert np.isnan(ds.roads.flow.values).mean() > 0.9
    assert ds.spots is None  # a city without spots has no spot series


def test_round_trip_on_disk(tmp_path: Path, days: dict[dt.date, FlowDataset]) -> None:
    save_dataset(days[WORKDAY], tmp_path / "hist")
    back = load_dataset(tmp_path / "hist")
    assert back.roads is not None and back.spots is not None
    original = days[WORKDAY]
    assert original.roads is not None and original.spots is not None
    assert np.array_equal(back.roads.flow.values, original.roads.flow.values, equal_nan=True)
    assert np.array_equal(back.spots.visitors.values, original.spots.visitors.values)


def test_misaligned_start_and_bad_days_are_user_errors(city: City) -> None:
    with pytest.raises(FlowcastUserError, match="boundary"):
        simulate_history(city, local(WORKDAY, 8, 5), 1, progress=False)
    with pytest.raises(FlowcastUserError, match="days"):
        simulate_history(city, local(WORKDAY), 0, progress=False)


def test_a_city_of_spots_only() -> None:
    city = city_from_geojson({"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [110.3, 20.0]},
        "properties": {"kind": "spot", "id": "beach", "capacity_instant": 1000,
                       "capacity_daily": 3000}}]})
    ds = simulate_history(city, local(WORKDAY), 1, progress=False)
    assert ds.roads is None and ds.spots is not None
    assert 0 < float(ds.spots.visitors.max()) < 1000
