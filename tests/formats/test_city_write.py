"""Writing a city file: what is written reads back to an equal registry, as text or as a file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from flowcast.city import City
from flowcast.formats.city_read import city_from_geojson, load_city
from flowcast.formats.city_write import city_json, save_city
from flowcast.ingest.simulator import generate_city


def assert_same(a: City, b: City) -> None:
    """Two registries hold the same ids, attributes and links."""
    for name in ("segment_ids", "segment_class", "segment_free_flow_kmh", "segment_region",
                 "sensor_ids", "sensor_segment", "spot_ids", "spot_capacity_instant"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.downstream.to_dense(), b.downstream.to_dense())
    np.testing.assert_allclose(a.sensor_lonlat, b.sensor_lonlat, atol=1e-6)
    assert a.name == b.name and a.timezone == b.timezone
    assert [s.id for s in a.screens] == [s.id for s in b.screens]


def test_city_json_reads_back_to_the_same_city() -> None:
    city = generate_city(30, 2, seed=3)
    text = city_json(city)
    assert "\n" not in text  # compact, as a dataset keeps it
    assert_same(city_from_geojson(json.loads(text)), city)


def test_save_city_writes_the_same_text_atomically(tmp_path: Path) -> None:
    city = generate_city(12, 1, seed=5)
    path = tmp_path / "nested" / "city.geojson"
    save_city(city, path)
    assert path.read_text(encoding="utf-8") == city_json(city)
    assert [p.name for p in path.parent.iterdir()] == ["city.geojson"]  # no temporary left
    assert_same(load_city(path), city)
