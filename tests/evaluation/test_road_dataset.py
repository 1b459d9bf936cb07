"""A dataset's road series as the evaluation commands read them: the checks made before
loading, the report title and the unit of the variable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.road_dataset import check_dataset_dir, dataset_title, unit_label
from flowcast.formats.dataset import make_series_dataset


def roads(source: str = "", interval_s: int = 900) -> xr.Dataset:
    """Two sensors x four buckets of speed and flow."""
    times = pd.date_range("2015-01-01", periods=4, freq=f"{interval_s}s", tz="UTC")
    return make_series_dataset("sensor", ["a", "b"], times,
                               {"speed": np.ones((2, 4)), "flow": np.ones((2, 4)),
                                "occupancy": np.zeros((2, 4))},
                               {"speed": "km/h", "flow": "vehicles", "occupancy": "1"},
                               interval_s=interval_s, source=source)


def test_the_title_comes_from_the_data_then_its_source_then_the_folder(tmp_path: Path) -> None:
    titled = roads("flowcast import sz_speed.csv")
    titled.attrs["title"] = "SZ-taxi, January 2015"
    assert dataset_title(titled, tmp_path / "sz") == "SZ-taxi, January 2015"
    assert dataset_title(roads("flowcast import sz_speed.csv --adjacency sz_adj.csv"),
                         tmp_path / "sz") == "sz_speed.csv (imported)"
    assert dataset_title(roads("flowcast simulate (city haikou, seed 7)"),
                         tmp_path / "x") == "simulated city haikou"
    assert dataset_title(roads(""), tmp_path / "sz.nc") == "sz.nc"


def test_units_as_reports_name_them() -> None:
    assert unit_label(roads(), "speed") == "km/h"
    assert unit_label(roads(), "flow") == "vehicles/15 min"
    assert unit_label(roads(interval_s=90), "flow") == "vehicles/interval"
    assert unit_label(roads(), "occupancy") == "fraction 0..1"
    assert unit_label(roads(), "visitors") is None


def test_dataset_paths_are_checked_without_loading(tmp_path: Path) -> None:
    with pytest.raises(FlowcastUserError, match="does not exist; create one"):
        check_dataset_dir(tmp_path / "gone")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(FlowcastUserError, match="is not a dataset directory"):
        check_dataset_dir(tmp_path / "file")
    with pytest.raises(FlowcastUserError, match="holds no road series"):
        check_dataset_dir(tmp_path)
    (tmp_path / "roads.nc").write_bytes(b"not even read")
    check_dataset_dir(tmp_path)
    with pytest.raises(FlowcastUserError, match=r"has no city\.geojson.*--city-out"):
        check_dataset_dir(tmp_path, city=True)
    (tmp_path / "city.geojson").write_text("{}", encoding="utf-8")
    check_dataset_dir(tmp_path, city=True)
