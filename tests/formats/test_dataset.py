"""The on-disk dataset: build, save atomically, load back, and refuse what is not a dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flowcast.errors import DatasetError
from flowcast.formats.dataset import (
    CITY_FILE,
    ROADS_FILE,
    SPOTS_FILE,
    FlowDataset,
    graph_of,
    load_dataset,
    make_series_dataset,
    save_dataset,
)

TIMES = pd.date_range("2015-01-01 00:00", periods=4, freq="5min", tz="Asia/Shanghai")
CITY = '{"type": "FeatureCollection", "features": []}'


def roads(scale: float = 1.0) -> xr.Dataset:
    """Three sensors x four buckets with a graph, metadata and a NaN."""
    speed = np.arange(12, dtype=np.float32).reshape(3, 4) * scale
    speed[1, 2] = np.nan
    return make_series_dataset(
        "sensor", ["S1", "深南大道", "S3"], TIMES,
        {"speed": speed, "flow": np.ones((3, 4))}, {"speed": "km/h", "flow": "vehicles"},
        interval_s=300, source="test",
        coords={"road_class": np.array(["expressway", "arterial", "branch"]),
                "lanes": np.array([3, 2, 1])},
        graph=(np.array([0, 1, 3, 3]), np.array([1, 0, 2])))


def spots() -> xr.Dataset:
    """One scenic spot over the same buckets."""
    return make_series_dataset(
        "spot", ["jiuzhaigou"], TIMES, {"arrivals": np.array([[5.0, 7, 0, 2]])},
        {"arrivals": "visitors"}, interval_s=300,
        coords={"capacity_instant": np.array([41000])})


def test_make_series_dataset_converts_times_to_utc() -> None:
    ds = roads()
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert ds["time"].values[0] == np.datetime64("2014-12-31T16:00", "ns")
    assert ds["speed"].dtype == np.float32 and ds["flow"].dtype == np.float32
    assert ds.attrs == {"interval_s": 300, "timezone": "Asia/Shanghai", "source": "test",
                        "flowcast_format": 1}


def test_make_series_dataset_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"variable speed has shape \(2, 4\), expected \(3, 4\)"):
        make_series_dataset("sensor", ["a", "b", "c"], TIMES, {"speed": np.zeros((2, 4))},
                            {}, interval_s=300)


def test_round_trip_keeps_values_coords_attrs_graph_and_city(tmp_path: Path) -> None:
    original = FlowDataset(roads=roads(), spots=spots(), city_geojson=CITY)
    path = save_dataset(original, tmp_path / "ds")
    assert sorted(p.name for p in path.iterdir()) == sorted([ROADS_FILE, SPOTS_FILE, CITY_FILE])
    loaded = load_dataset(path)
    assert loaded.roads is not None and loaded.spots is not None
    assert original.roads is not None
    xr.testing.assert_identical(loaded.roads, original.roads)
    xr.testing.assert_identical(loaded.spots, spots())
    assert list(loaded.roads["sensor"].values) == ["S1", "深南大道", "S3"]
    assert loaded.roads["speed"].attrs["units"] == "km/h"
    assert np.isnan(loaded.roads["speed"].values[1, 2])
    graph = graph_of(loaded.roads)
    assert graph is not None
    assert graph[0].tolist() == [0, 1, 3, 3] and graph[1].tolist() == [1, 0, 2]
    assert graph_of(loaded.spots) is None
    assert loaded.city_geojson == CITY
    assert loaded.interval_s == 300


def test_dataset_with_spots_only(tmp_path: Path) -> None:
    save_dataset(FlowDataset(spots=spots()), tmp_path / "ds")
    loaded = load_dataset(tmp_path / "ds")
    assert loaded.roads is None and loaded.city_geojson is None
    assert loaded.interval_s == 300


def test_interval_of_an_empty_dataset_is_an_error() -> None:
    with pytest.raises(DatasetError, match="neither road nor spot series"):
        _ = FlowDataset().interval_s


def test_overwrite_replaces_atomically_and_leaves_no_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    save_dataset(FlowDataset(roads=roads(), spots=spots()), path)
    save_dataset(FlowDataset(roads=roads(scale=2.0)), path)
    loaded = load_dataset(path)
    assert loaded.spots is None  # the old spots.nc went with the old dataset
    assert loaded.roads is not None
    assert loaded.roads["speed"].values[0, 1] == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_failed_write_keeps_the_old_dataset(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ds"
    save_dataset(FlowDataset(roads=roads()), path)
    before = (path / ROADS_FILE).read_bytes()

    def disk_full(self: xr.Dataset, *args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_dataset(FlowDataset(roads=roads(scale=2.0)), path)
    assert (path / ROADS_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_failed_rename_puts_the_old_dataset_back(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ds"
    save_dataset(FlowDataset(roads=roads()), path)
    before = (path / ROADS_FILE).read_bytes()
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self.name.startswith(".ds.") and not self.name.endswith(".old"):
            raise OSError("rename failed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        save_dataset(FlowDataset(roads=roads(scale=2.0)), path)
    assert (path / ROADS_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_saved_directory_follows_the_umask(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        path = save_dataset(FlowDataset(roads=roads()), tmp_path / "ds")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o755


def test_save_refusals(tmp_path: Path) -> None:
    dataset = FlowDataset(roads=roads())
    save_dataset(dataset, tmp_path / "ds")
    with pytest.raises(DatasetError, match="already exists"):
        save_dataset(dataset, tmp_path / "ds", overwrite=False)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(DatasetError, match="exists and is not a dataset directory"):
        save_dataset(dataset, tmp_path / "file")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(DatasetError, match="does not hold a flowcast dataset"):
        save_dataset(dataset, other)
    assert (other / "notes.txt").read_text(encoding="utf-8") == "keep"
    empty = tmp_path / "empty"
    empty.mkdir()
    save_dataset(dataset, empty)
    assert (empty / ROADS_FILE).exists()


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist; create one with"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "file.nc").write_text("x", encoding="utf-8")
    with pytest.raises(DatasetError, match="is not a dataset directory"):
        load_dataset(tmp_path / "file.nc")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"holds neither roads\.nc nor spots\.nc"):
        load_dataset(tmp_path / "empty")


def test_load_rejects_files_that_are_not_series(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / ROADS_FILE).write_bytes(b"not netcdf at all")
    with pytest.raises(DatasetError, match="cannot be read as NetCDF"):
        load_dataset(garbage)
    timeless = tmp_path / "timeless"
    timeless.mkdir()
    xr.Dataset({"x": ("sensor", np.zeros(2))}, attrs={"interval_s": 300}).to_netcdf(
        timeless / ROADS_FILE, engine="h5netcdf")
    with pytest.raises(DatasetError, match="has no 'time' axis"):
        load_dataset(timeless)
    unattributed = tmp_path / "unattributed"
    unattributed.mkdir()
    roads().drop_attrs().to_netcdf(unattributed / ROADS_FILE, engine="h5netcdf")
    with pytest.raises(DatasetError, match="lacks the 'interval_s' attribute"):
        load_dataset(unattributed)
