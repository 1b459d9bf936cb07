"""The city registry: loading, validation messages, id maps and CSR graphs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowcast.city import ROAD_CLASSES, Csr
from flowcast.errors import CityFileError
from flowcast.formats.city_read import city_from_geojson, load_city
from flowcast.formats.city_write import city_to_geojson, save_city


def _segment(sid: str, region: str = "R1", downstream: list[str] | None = None,
             **extra: Any) -> dict[str, Any]:
    props = {"kind": "segment", "id": sid, "name": f"Road {sid}", "road_class": "arterial",
             "length_m": 800.0, "free_flow_kmh": 60.0, "lanes": 3, "region": region,
             "downstream": downstream or []}
    props.update(extra)
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "LineString", "coordinates": [[110.30, 20.00], [110.31, 20.01]]}}


def _sensor(sid: str, segment: str) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"kind": "sensor", "id": sid, "segment": segment},
            "geometry": {"type": "Point", "coordinates": [110.305, 20.005]}}


def _spot(sid: str, **extra: Any) -> dict[str, Any]:
    props = {"kind": "spot", "id": sid, "name": "Wuzhizhou Island", "capacity_instant": 5000,
             "capacity_daily": 20000, "opens": "08:00", "closes": "18:00", "region": "R2"}
    props.update(extra)
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Point", "coordinates": [110.40, 20.05]}}


def _screen(sid: str, routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [110.3, 20.0]},
            "properties": {"kind": "screen", "id": sid, "name": "Binhai Ave screen",
                           "destination": "Airport", "routes": routes}}


@pytest.fixture
def document() -> dict[str, Any]:
    """A small valid city: a chain A -> B -> C in R1, D in R3 feeding B, two sensors on A."""
    return {
        "type": "FeatureCollection",
        "flowcast": {"city": "tiny", "timezone": "Asia/Shanghai"},
        "features": [
            _segment("A", downstream=["B"]),
            _segment("B", downstream=["C"], road_class="expressway", free_flow_kmh=90.0),
            _segment("C"),
            _segment("D", region="R3", upstream=[], downstream=["B"]),
            _sensor("S1", "A"), _sensor("S2", "A"), _sensor("S3", "B"), _sensor("S4", "C"),
            _sensor("S5", "D"),
            _spot("wuzhizhou"),
            _screen("SCR1", [{"id": "via-B", "segments": ["A", "B", "C"]},
                             {"id": "via-D", "name": "by D", "segments": ["D", "B"]}]),
        ],
    }


def test_valid_city_maps_ids_to_dense_indices(document: dict[str, Any]) -> None:
    city = city_from_geojson(document)
    assert (city.n_segments, city.n_sensors, city.n_spots) == (4, 5, 1)
    assert list(city.regions) == ["R1", "R2", "R3"]
    assert city.sensor_index(["S3", "S1", "nope"]).tolist() == [2, 0, -1]
    assert city.segment_index(["D"]).tolist() == [3]
    assert city.spot_index(["wuzhizhou", "x"]).tolist() == [0, -1]
    assert city.sensor_segment.tolist() == [0, 0, 1, 2, 3]
    assert city.sensor_region.tolist() == [0, 0, 0, 0, 2]
    assert city.spot_region.tolist() == [1]
    assert ROAD_CLASSES[city.segment_class[1]] == "expressway"
    assert city.segment_capacity_vphpl[1] == 2000.0  # the expressway default
    assert city.spot_opens_min[0] == 8 * 60 and city.spot_closes_min[0] == 18 * 60
    assert city.spot_warn[0] == 0.8 and city.spot_critical[0] == 1.0


def test_graphs_are_csr_and_consistent(document: dict[str, Any]) -> None:
    city = city_from_geojson(document)
    down = city.downstream.to_dense()
    expected = np.zeros((4, 4), dtype=np.int8)
    expected[0, 1] = expected[1, 2] = expected[3, 1] = 1
    np.testing.assert_array_equal(down, expected)
    np.testing.assert_array_equal(city.upstream.to_dense(), expected.T)
    assert city.downstream.indptr.dtype == np.int64 and city.downstream.indices.dtype == np.int32
    sensors = city.sensor_neighbours.to_dense()
    np.testing.assert_array_equal(sensors, sensors.T)
    assert sensors.diagonal().sum() == 0
    # S1 and S2 share segment A; both touch S3 on B; S5 (on D) touches S3 only.
    assert sensors[0].tolist() == [0, 1, 1, 0, 0]
    assert sensors[4].tolist() == [0, 0, 1, 0, 0]
    assert sensors[2].tolist() == [1, 1, 0, 1, 1]


def test_upstream_links_merge_with_downstream(document: dict[str, Any]) -> None:
    document["features"][2]["properties"]["upstream"] = ["D"]  # C says D feeds it
    city = city_from_geojson(document)
    assert 2 in city.downstream.neighbours(3).tolist()
    assert 3 in city.upstream.neighbours(2).tolist()


def test_screens_resolve_routes(document: dict[str, Any]) -> None:
    city = city_from_geojson(document)
    (screen,) = city.screens
    assert screen.destination == "Airport"
    assert [r.id for r in screen.routes] == ["via-B", "via-D"]
    assert screen.routes[1].segments.tolist() == [3, 1]
    assert screen.routes[0].name == "via-B"


def test_round_trip_through_file(tmp_path: Path, document: dict[str, Any]) -> None:
    city = city_from_geojson(document)
    path = tmp_path / "city.geojson"
    save_city(city, path)
    again = load_city(path)
    assert again.name == "tiny" and again.timezone == "Asia/Shanghai"
    for name in ("sensor_ids", "segment_ids", "spot_ids", "regions", "segment_class",
                 "segment_length_m", "sensor_segment", "spot_capacity_daily", "spot_region"):
        np.testing.assert_array_equal(getattr(again, name), getattr(city, name), err_msg=name)
    np.testing.assert_array_equal(again.downstream.to_dense(), city.downstream.to_dense())
    assert [r.segments.tolist() for r in again.screens[0].routes] == [[0, 1, 2], [3, 1]]
    assert city_to_geojson(again) == city_to_geojson(city)


def _mutate(document: dict[str, Any], index: int, **props: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    for key, value in props.items():
        if value is _DELETE:
            del doc["features"][index]["properties"][key]
        else:
            doc["features"][index]["properties"][key] = value
    return doc


_DELETE = object()

INVALID_CASES = [
    ("duplicate id", lambda d: {**d, "features": [*d["features"], _segment("A")]},
     ["segment 'A'", "duplicate id"]),
    ("unknown segment", lambda d: _mutate(d, 4, segment="ZZ"),
     ["sensor 'S1'", "'segment'", "'ZZ'"]),
    ("link to missing", lambda d: _mutate(d, 0, downstream=["B", "Q"]),
     ["segment 'A'", "'downstream'", "'Q'"]),
    ("self link", lambda d: _mutate(d, 0, downstream=["A"]), ["segment 'A'", "itself"]),
    ("negative capacity", lambda d: _mutate(d, 9, capacity_instant=-5),
     ["spot 'wuzhizhou'", "'capacity_instant'", "positive"]),
    ("missing capacity", lambda d: _mutate(d, 9, capacity_daily=_DELETE),
     ["spot 'wuzhizhou'", "'capacity_daily'", "missing"]),
    ("bad road class", lambda d: _mutate(d, 1, road_class="motorway"),
     ["segment 'B'", "'road_class'", "expressway"]),
    ("bad length", lambda d: _mutate(d, 2, length_m="long"), ["segment 'C'", "'length_m'"]),
    ("zero lanes", lambda d: _mutate(d, 2, lanes=0), ["segment 'C'", "'lanes'"]),
    ("fractional lanes", lambda d: _mutate(d, 2, lanes=2.5), ["'lanes'", "whole"]),
    ("bad kind", lambda d: _mutate(d, 3, kind="bridge"), ["feature #3", "'kind'"]),
    ("missing id", lambda d: _mutate(d, 3, id=_DELETE), ["feature #3", "'id'", "missing"]),
    ("bad opening time", lambda d: _mutate(d, 9, opens="8am"), ["'opens'", "HH:MM"]),
    ("closes before opens", lambda d: _mutate(d, 9, opens="19:00"), ["'closes'"]),
    ("critical below warn", lambda d: _mutate(d, 9, warn=0.9, critical=0.5), ["'critical'"]),
    ("screen unknown segment",
     lambda d: _mutate(d, 10, routes=[{"id": "r", "segments": ["A", "NOPE"]}]),
     ["screen 'SCR1'", "routes[0]", "'NOPE'"]),
    ("bad id characters", lambda d: _mutate(d, 4, id="S 1"), ["'id'", "not a valid id"]),
]


@pytest.mark.parametrize(("label", "mutate", "fragments"), INVALID_CASES,
                         ids=[c[0] for c in INVALID_CASES])
def test_invalid_city_is_refused_naming_feature_and_field(
    document: dict[str, Any], label: str, mutate: Any, fragments: list[str]
) -> None:
    with pytest.raises(CityFileError) as info:
        city_from_geojson(mutate(document), source="city.geojson")
    message = str(info.value)
    assert message.startswith("city.geojson: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (label, message)


def test_bad_geometry_and_top_level(document: dict[str, Any]) -> None:
    doc = copy.deepcopy(document)
    doc["features"][0]["geometry"] = {"type": "Point", "coordinates": [1, 2]}
    with pytest.raises(CityFileError, match=r"segment 'A'.*LineString"):
        city_from_geojson(doc)
    doc = copy.deepcopy(document)
    doc["features"][4]["geometry"]["coordinates"] = [500, 20]
    with pytest.raises(CityFileError, match=r"sensor 'S1'.*lon/lat"):
        city_from_geojson(doc)
    with pytest.raises(CityFileError, match="FeatureCollection"):
        city_from_geojson({"type": "Feature"})
    with pytest.raises(CityFileError, match="time zone"):
        city_from_geojson({**document, "flowcast": {"timezone": "Mars/Olympus"}})
    with pytest.raises(CityFileError, match="no segments and no spots"):
        city_from_geojson({"type": "FeatureCollection", "features": []})


def test_load_city_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CityFileError, match="does not exist"):
        load_city(tmp_path / "missing.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection",\n "features": [}', encoding="utf-8")
    with pytest.raises(CityFileError, match=r"line 2 column .*not valid JSON"):
        load_city(bad)


def test_csr_from_edges_deduplicates_and_sorts() -> None:
    csr = Csr.from_edges(3, np.array([2, 0, 0, 2]), np.array([1, 2, 1, 1]))
    assert csr.indptr.tolist() == [0, 2, 2, 3]
    assert csr.neighbours(0).tolist() == [1, 2]
    assert csr.neighbours(1).tolist() == []
    assert csr.neighbours(2).tolist() == [1]


def test_sensor_graph_matches_brute_force_on_random_city() -> None:
    rng = np.random.default_rng(3)
    n_seg = 30
    features: list[dict[str, Any]] = []
    for g in range(n_seg):
        targets = sorted({f"G{int(t)}" for t in rng.integers(0, n_seg, 2) if t != g})
        features.append(_segment(f"G{g}", region=f"R{g % 4}", downstream=targets))
    seg_of_sensor = rng.integers(0, n_seg, 50)
    features += [_sensor(f"S{i}", f"G{g}") for i, g in enumerate(seg_of_sensor)]
    city = city_from_geojson({"type": "FeatureCollection", "features": features})
    down = city.downstream.to_dense().astype(bool)
    linked = down | down.T | np.eye(n_seg, dtype=bool)
    expected = linked[np.ix_(seg_of_sensor, seg_of_sensor)] & ~np.eye(50, dtype=bool)
    np.testing.assert_array_equal(city.sensor_neighbours.to_dense().astype(bool), expected)
    assert json.dumps(city_to_geojson(city))  # serialisable


def test_directed_sensor_graphs_on_a_three_segment_chain() -> None:
    features = [_segment("A", downstream=["B"]), _segment("B", downstream=["C"]), _segment("C"),
                _sensor("S1", "A"), _sensor("S2", "A"), _sensor("S3", "B"),
                _sensor("S4", "C")]
    city = city_from_geojson({"type": "FeatureCollection", "features": features})
    down = city.sensor_downstream
    assert [down.neighbours(s).tolist() for s in range(4)] == [[2], [2], [3], []]
    up = city.sensor_upstream
    assert [up.neighbours(s).tolist() for s in range(4)] == [[], [], [0, 1], [2]]
    # a partition holding S4, S3, S1 (and a sensor the city does not know) in that order
    _, up_local, down_local = city.sensor_graphs(np.array([3, 2, -1, 0]))
    assert [down_local.neighbours(s).tolist() for s in range(4)] == [[], [0], [], [1]]
    assert [up_local.neighbours(s).tolist() for s in range(4)] == [[1], [3], [], []]
    everything = city.sensor_graphs()
    assert everything[1] is city.sensor_upstream and everything[2] is city.sensor_downstream


def test_directed_sensor_graphs_match_brute_force_on_random_city() -> None:
    rng = np.random.default_rng(4)
    n_seg, n_sensors = 25, 60
    features: list[dict[str, Any]] = []
    for g in range(n_seg):
        targets = sorted({f"G{int(t)}" for t in rng.integers(0, n_seg, 2) if t != g})
        features.append(_segment(f"G{g}", downstream=targets))
    seg_of_sensor = rng.integers(0, n_seg, n_sensors)
    features += [_sensor(f"S{i}", f"G{g}") for i, g in enumerate(seg_of_sensor)]
    city = city_from_geojson({"type": "FeatureCollection", "features": features})
    seg_down = city.downstream.to_dense().astype(bool)
    expected = seg_down[np.ix_(seg_of_sensor, seg_of_sensor)]
    assert expected.any() and not expected.diagonal().any()
    np.testing.assert_array_equal(city.sensor_downstream.to_dense().astype(bool), expected)
    np.testing.assert_array_equal(city.sensor_upstream.to_dense().astype(bool), expected.T)
    held = rng.permutation(n_sensors)[:20]
    _, up, down = city.sensor_graphs(held)
    np.testing.assert_array_equal(down.to_dense().astype(bool), expected[np.ix_(held, held)])
    np.testing.assert_array_equal(up.to_dense().astype(bool), expected.T[np.ix_(held, held)])
