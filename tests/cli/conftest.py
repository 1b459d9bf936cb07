"""Fixtures shared by the command-line tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr


@pytest.fixture(scope="module")
def no_time_axis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset directory whose roads.nc has no time axis (a user's broken file)."""
    path = tmp_path_factory.mktemp("bad") / "static"
    path.mkdir()
    xr.Dataset({"speed": ("sensor", np.ones(3, np.float32))},
               attrs={"interval_s": 900}).to_netcdf(path / "roads.nc", engine="h5netcdf")
    return path
