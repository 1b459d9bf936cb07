"""The minimal city of a dataset without one: one segment per sensor, links from its graph,
free-flow speeds and road classes from the data or as given, refused when it cannot be made."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flowcast.city import ROAD_CLASSES
from flowcast.errors import DatasetError
from flowcast.formats.city_write import city_to_geojson
from flowcast.formats.dataset import make_series_dataset
from flowcast.formats.dataset_city import (
    SEGMENT_LENGTH_M,
    class_codes,
    derived_free_flow,
    describe_city,
    minimal_city,
)

TIMES = pd.date_range("2015-01-01", periods=100, freq="15min", tz="Asia/Shanghai")


def roads(ids: list[str], speed: np.ndarray | None = None,
          graph: tuple[np.ndarray, np.ndarray] | None = None) -> xr.Dataset:
    """Road series of ``ids``: ``speed`` (default 1..100 km/h on every sensor) or flow only."""
    if speed is None:
        speed = np.tile(np.arange(1, 101, dtype=np.float32), (len(ids), 1))
    variables = {"speed": speed} if speed.size else {"flow": np.ones((len(ids), 100))}
    return make_series_dataset("sensor", ids, TIMES, variables,
                               {"speed": "km/h", "flow": "vehicles"}, interval_s=900,
                               timezone="Asia/Shanghai", graph=graph)


def test_one_segment_per_sensor_with_the_graph_as_links() -> None:
    # 0 -> 1, 1 -> 0, 1 -> 2, and a self-loop 2 -> 2 that a city cannot hold
    graph = (np.array([0, 1, 3, 4]), np.array([1, 0, 2, 2], np.int32))
    city = minimal_city(roads(["90217", "90218", "90219"], graph=graph), name="sz")
    assert list(city.sensor_ids) == list(city.segment_ids) == ["90217", "90218", "90219"]
    assert city.sensor_segment.tolist() == [0, 1, 2]
    assert city.downstream.to_dense().tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 0]]
    assert city.upstream.to_dense().tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0]]
    assert city.name == "sz" and city.timezone == "Asia/Shanghai"
    assert list(city.regions) == ["all"] and city.n_spots == 0
    assert (city.segment_length_m == SEGMENT_LENGTH_M).all()
    # the sensor graph the engine reads joins the linked sensors, both ways
    assert city.sensor_neighbours.to_dense().tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]


def test_free_flow_is_a_high_percentile_of_the_moving_speeds() -> None:
    speed = np.tile(np.arange(1, 101, dtype=np.float32), (3, 1))
    speed[1] = 0.0  # never moving: no free flow of its own
    speed[1, :10] = np.nan
    speed[2, ::2] = 0.0  # zeros (no taxi) do not pull the percentile down
    free = derived_free_flow(roads(["a", "b", "c"], speed))
    expected_a = np.percentile(np.arange(1, 101), 85)
    expected_c = np.percentile(np.arange(2, 101, 2), 85)
    assert free[0] == pytest.approx(expected_a, abs=0.05)  # to 0.1 km/h
    assert free[2] == pytest.approx(expected_c, abs=0.05)
    assert free[1] == pytest.approx((expected_a + expected_c) / 2, abs=0.05)


def test_road_classes_follow_the_free_flow_speed() -> None:
    codes = class_codes(np.array([100.0, 70.0, 69.9, 45.0, 35.0, 34.9, 5.0]))
    assert [ROAD_CLASSES[c] for c in codes] == [
        "expressway", "expressway", "arterial", "arterial", "secondary", "branch", "branch"]


def test_given_class_and_free_flow_apply_to_every_segment() -> None:
    city = minimal_city(roads(["a", "b"]), name="x", road_class="secondary", free_flow_kmh=42)
    assert city.segment_free_flow_kmh.tolist() == [42.0, 42.0]
    assert [ROAD_CLASSES[c] for c in city.segment_class] == ["secondary", "secondary"]
    assert city.segment_capacity_vphpl.tolist() == [1200.0, 1200.0]
    assert describe_city(city) == ("2 segments, one per sensor (secondary 2); free flow 42 "
                                   "km/h; 0 links")


def test_the_geometry_is_a_valid_schematic_grid() -> None:
    ids = [f"S{i}" for i in range(10)]
    doc = city_to_geojson(minimal_city(roads(ids), name="grid"))
    lines = [f["geometry"]["coordinates"] for f in doc["features"]
             if f["properties"]["kind"] == "segment"]
    assert len(lines) == 10 and len({tuple(map(tuple, line)) for line in lines}) == 10
    assert all(0 <= lon < 1 and 0 <= lat < 1 for line in lines for lon, lat in line)


def test_what_cannot_make_a_city_is_refused() -> None:
    with pytest.raises(DatasetError, match=r"'S 1'.*rename the sensor"):
        minimal_city(roads(["S 1", "S2"]), name="x")
    with pytest.raises(DatasetError, match=r"no speed .*--free-flow KMH"):
        minimal_city(roads(["a"], np.empty(0, np.float32)), name="x")
    with pytest.raises(DatasetError, match="no sensor has a speed above 0"):
        minimal_city(roads(["a"], np.zeros((1, 100), np.float32)), name="x")
    flow_only = minimal_city(roads(["a"], np.empty(0, np.float32)), name="x", free_flow_kmh=50)
    assert flow_only.segment_free_flow_kmh.tolist() == [50.0]
