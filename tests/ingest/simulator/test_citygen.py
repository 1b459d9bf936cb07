"""The generated city: a valid registry with a road network that looks like a city's."""

from __future__ import annotations

import numpy as np
import pytest

from flowcast.city import ROAD_CLASSES, City
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_read import city_from_geojson
from flowcast.formats.city_write import city_to_geojson
from flowcast.ingest.simulator import generate_city
from flowcast.ingest.simulator.network import M_PER_DEG_LAT, M_PER_DEG_LON

FREE_FLOW = {"expressway": (80.0, 100.0), "arterial": (50.0, 60.0), "secondary": (40.0, 40.0),
             "branch": (30.0, 30.0)}


def _end(city: City, g: int) -> np.ndarray:
    return np.array(city.segment_geometry[g][-1])


def _start(city: City, g: int) -> np.ndarray:
    return np.array(city.segment_geometry[g][0])


def _metres(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.hypot((a[0] - b[0]) * M_PER_DEG_LON, (a[1] - b[1]) * M_PER_DEG_LAT))


@pytest.mark.parametrize("n_sensors", [1, 5, 37, 1000])
def test_exact_counts_and_valid_registry(n_sensors: int) -> None:
    city = generate_city(n_sensors, 4, seed=1)
    assert city.n_sensors == n_sensors
    assert city.n_spots == 4
    again = city_from_geojson(city_to_geojson(city))
    assert list(again.sensor_ids) == list(city.sensor_ids)
    assert np.array_equal(again.downstream.indices, city.downstream.indices)


def test_mostly_one_sensor_per_segment_some_two() -> None:
    city = generate_city(2000, 3, seed=2)
    per_segment = np.bincount(city.sensor_segment, minlength=city.n_segments)
    assert per_segment.min() >= 1
    assert 0.8 < np.mean(per_segment == 1) < 0.97
    assert np.any(per_segment == 2)


def test_road_attributes_are_realistic() -> None:
    city = generate_city(3000, 3, seed=4)
    classes = np.array(ROAD_CLASSES)[city.segment_class]
    assert set(classes) == set(ROAD_CLASSES)
    assert city.segment_length_m.min() >= 200 and city.segment_length_m.max() <= 3000
    for name, (lo, hi) in FREE_FLOW.items():
        ff = city.segment_free_flow_kmh[classes == name]
        assert ff.min() >= lo and ff.max() <= hi
    lanes = city.segment_lanes
    assert lanes[classes == "expressway"].min() >= 3
    assert lanes[classes == "branch"].max() <= 2
    # expressways are long segments between interchanges
    assert np.median(city.segment_length_m[classes == "expressway"]) > 1000
    lon, lat = city.sensor_lonlat.T
    assert lon.min() > 110.1 and lon.max() < 110.6
    assert lat.min() > 19.85 and lat.max() < 20.2


def test_links_follow_the_geometry() -> None:
    city = generate_city(800, 2, seed=5)
    rows = np.repeat(np.arange(city.n_segments), np.diff(city.downstream.indptr))
    for a, b in zip(rows.tolist(), city.downstream.indices.tolist(), strict=True):
        # b starts where a ends (the two carriageways are drawn 6 m apart each side)
        assert _metres(_end(city, a), _start(city, b)) < 20.0
        # no U-turn straight back
        assert _metres(_start(city, a), _end(city, b)) > 20.0
    assert np.array_equal(city.upstream.to_dense(), city.downstream.to_dense().T)
    # every segment of a grid interior has somewhere to go
    assert np.mean(np.diff(city.downstream.indptr) > 0) > 0.95


def test_regions_are_of_similar_size() -> None:
    city = generate_city(20_000, 5, seed=6)
    sizes = np.bincount(city.sensor_region, minlength=city.n_regions)
    assert city.n_regions >= 20
    assert sizes.min() >= 50 and sizes.max() <= 700
    assert sizes.max() / sizes.min() < 3.0


def test_small_city_has_at_least_one_region() -> None:
    city = generate_city(60, 1, seed=0)
    assert city.n_regions >= 1
    assert set(np.unique(city.sensor_region)) <= set(range(city.n_regions))


def test_spots_have_names_capacities_and_hours() -> None:
    city = generate_city(500, 6, seed=7)
    assert "Wuzhizhou Island" in list(city.spot_names)
    assert len(set(city.spot_ids)) == 6
    assert np.all(city.spot_capacity_instant < city.spot_capacity_daily)
    assert np.all(city.spot_capacity_instant > 0)
    assert np.all(city.spot_opens_min < city.spot_closes_min)
    assert np.all((city.spot_opens_min >= 7 * 60) & (city.spot_closes_min <= 22 * 60))


def test_many_spots_get_unique_ids() -> None:
    city = generate_city(100, 45, seed=7)
    assert len(set(city.spot_ids)) == 45


@pytest.mark.parametrize(("n", "seed"), [(30, 8), (2000, 8), (20, 0), (20, 1), (60, 3),
                                          (80, 0), (80, 2), (80, 10)])
def test_screens_offer_connected_alternative_routes(n: int, seed: int) -> None:
    """Small grids included: a missing local link is walked around, an origin that would fall
    off the grid moves to its edge, and a route never repeats a segment."""
    city = generate_city(n, 3, seed=seed)
    assert 1 <= len(city.screens) <= 2
    for screen in city.screens:
        assert 2 <= len(screen.routes) <= 3
        first = [_start(city, int(route.segments[0])) for route in screen.routes]
        last = [_end(city, int(route.segments[-1])) for route in screen.routes]
        # every route leaves from the screen's junction and reaches the same destination
        assert max(_metres(first[0], p) for p in first) < 20.0
        assert max(_metres(last[0], p) for p in last) < 20.0
        assert _metres(first[0], np.array(screen.lonlat)) < 20.0
        for route in screen.routes:
            for a, b in zip(route.segments[:-1], route.segments[1:], strict=True):
                assert b in city.downstream.neighbours(int(a))
        paths = {tuple(route.segments.tolist()) for route in screen.routes}
        assert len(paths) == len(screen.routes)
        assert all(len(set(p)) == len(p) for p in paths)


def test_deterministic_in_seed() -> None:
    a, b = generate_city(300, 3, seed=9), generate_city(300, 3, seed=9)
    c = generate_city(300, 3, seed=10)
    assert city_to_geojson(a) == city_to_geojson(b)
    assert city_to_geojson(a) != city_to_geojson(c)


@pytest.mark.timeout(60)
def test_twenty_thousand_sensors() -> None:
    city = generate_city(20_000, 10, seed=11)
    assert city.n_sensors == 20_000
    assert city.sensor_neighbours.n_rows == 20_000


@pytest.mark.parametrize("args", [(0, 3), (-5, 3), (10, -1)])
def test_bad_counts_are_user_errors(args: tuple[int, int]) -> None:
    with pytest.raises(FlowcastUserError):
        generate_city(*args)
