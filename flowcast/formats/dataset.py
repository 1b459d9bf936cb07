"""The on-disk history dataset: xarray, written as NetCDF-4 (HDF5, through h5netcdf).

A DATASET is a directory:

``roads.nc``
    dims ``(sensor, time)``. Variables (float32, NaN = no data), each with a ``units`` attribute:
    ``speed`` (km/h), ``flow`` (vehicles per bucket), ``occupancy`` (fraction 0..1); any subset.
    Coordinates: ``sensor`` (str ids), ``time`` (bucket *start*, UTC, datetime64[ns]); optional
    per-sensor metadata coordinates ``segment``, ``region``, ``road_class``, ``lanes``,
    ``free_flow_kmh``, ``length_m``. The road graph is stored as CSR: ``graph_indptr`` (dim
    ``graph_row``, N + 1) and ``graph_indices`` (dim ``graph_edge``), sensor -> sensor.
    Attributes: ``interval_s`` (bucket length), ``timezone`` (IANA, for local time of day),
    ``source``, ``flowcast_format`` (= 1).
``spots.nc`` (optional)
    dims ``(spot, time)``; variables ``entries``, ``exits``, ``arrivals`` (visitors per bucket) and
    ``visitors`` (people inside at the bucket's end); coordinates ``spot`` and per-spot
    ``capacity_instant``, ``capacity_daily``. Same attributes.
``city.geojson`` (optional)
    the city registry the data belongs to.

Writes are atomic (:func:`flowcast.formats.atomic.write_directory`): everything goes to a
temporary sibling directory that is renamed into place, so an interrupted write never leaves a
half-written dataset behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from flowcast.errors import DatasetError
from flowcast.formats.atomic import write_directory

FORMAT_VERSION = 1
ROAD_VARIABLES: dict[str, str] = {"speed": "km/h", "flow": "vehicles", "occupancy": "1"}
SPOT_VARIABLES: dict[str, str] = {
    "entries": "visitors",
    "exits": "visitors",
    "arrivals": "visitors",
    "visitors": "visitors",
}
ROADS_FILE = "roads.nc"
SPOTS_FILE = "spots.nc"
CITY_FILE = "city.geojson"


@dataclass
class FlowDataset:
    """A history dataset in memory: road and/or spot series, and the city file if any."""

    roads: xr.Dataset | None = None
    spots: xr.Dataset | None = None
    city_geojson: str | None = None  # the city file's text, kept verbatim

    @property
    def interval_s(self) -> int:
        """Bucket length of the road series in seconds (else of the spot series)."""
        ds = self.roads if self.roads is not None else self.spots
        if ds is None:
            raise DatasetError("the dataset holds neither road nor spot series")
        return int(ds.attrs["interval_s"])


def make_series_dataset(
    dim: str,
    ids: np.ndarray | list[str],
    times: np.ndarray | pd.DatetimeIndex,
    variables: Mapping[str, np.ndarray],
    units: Mapping[str, str],
    *,
    interval_s: int,
    timezone: str = "Asia/Shanghai",
    source: str = "",
    coords: Mapping[str, np.ndarray] | None = None,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> xr.Dataset:
    """Build a series dataset with dims ``(dim, time)``.

    ``times`` are bucket starts in UTC (naive datetime64 or tz-aware, converted to UTC);
    every array in ``variables`` has shape ``(len(ids), len(times))``; ``coords`` are extra
    per-id coordinates; ``graph`` is an ``(indptr, indices)`` CSR over the ids.
    """
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    ids_arr = np.asarray(ids).astype(str)
    data_vars: dict[str, Any] = {}
    for name, values in variables.items():
        arr = np.asarray(values, dtype=np.float32)
        if arr.shape != (len(ids_arr), len(index)):
            raise ValueError(f"variable {name} has shape {arr.shape}, "
                             f"expected {(len(ids_arr), len(index))}")
        data_vars[name] = xr.Variable((dim, "time"), arr, attrs={"units": units.get(name, "")})
    all_coords: dict[str, Any] = {dim: ids_arr, "time": index.values.astype("datetime64[ns]")}
    for name, values in (coords or {}).items():
        all_coords[name] = (dim, np.asarray(values))
    if graph is not None:
        indptr, indices = graph
        data_vars["graph_indptr"] = xr.Variable(("graph_row",), np.asarray(indptr, np.int64))
        data_vars["graph_indices"] = xr.Variable(("graph_edge",), np.asarray(indices, np.int32))
    attrs = {"interval_s": int(interval_s), "timezone": timezone, "source": source,
             "flowcast_format": FORMAT_VERSION}
    return xr.Dataset(data_vars, coords=all_coords, attrs=attrs)


def save_dataset(dataset: FlowDataset, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write ``dataset`` to the directory ``path`` atomically and return the path.

    With ``overwrite=False`` an existing path is refused with a :class:`DatasetError`. Even with
    ``overwrite=True`` only an empty directory or a dataset (one holding ``roads.nc`` or
    ``spots.nc``) is replaced, never some other directory.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DatasetError(f"{path} already exists; choose another --out or remove it")
    if path.exists() and not path.is_dir():
        raise DatasetError(f"{path} exists and is not a dataset directory; choose another --out")
    if path.exists() and not is_replaceable(path):
        raise DatasetError(f"{path} is a directory that does not hold a flowcast dataset; it is "
                           "never replaced, so choose another --out")
    encoding = {"zlib": True, "complevel": 4}

    def fill(folder: Path) -> None:
        for name, ds in ((ROADS_FILE, dataset.roads), (SPOTS_FILE, dataset.spots)):
            if ds is not None:
                enc = {v: dict(encoding) for v in ds.data_vars if ds[v].dtype.kind == "f"}
                ds.to_netcdf(folder / name, engine="h5netcdf", encoding=enc)
        if dataset.city_geojson is not None:
            (folder / CITY_FILE).write_text(dataset.city_geojson, encoding="utf-8")

    write_directory(path, fill)
    return path


def is_replaceable(path: Path) -> bool:
    """True when the directory ``path`` may be overwritten: it is empty or holds a dataset."""
    names = {entry.name for entry in path.iterdir()}
    return not names or bool(names & {ROADS_FILE, SPOTS_FILE})


def check_out_path(out: Path, force: bool) -> None:
    """Refuse an existing ``--out`` before any work: without ``force``, or when it is not a
    dataset (so ``--force`` can never wipe an unrelated directory). Raises
    :class:`DatasetError` with the fix."""
    if not out.exists():
        return
    if not force:
        raise DatasetError(f"{out} already exists; add --force to replace it, or choose "
                           "another --out")
    if not out.is_dir() or not is_replaceable(out):
        raise DatasetError(f"{out} exists and is not a flowcast dataset; --force only "
                           "replaces datasets, so choose another --out")


def load_dataset(path: str | Path) -> FlowDataset:
    """Open a dataset directory (data loaded into memory). Raises :class:`DatasetError` with a
    clear message when the path is missing or holds no series."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset {path} does not exist; create one with "
                           "'flowcast simulate --out' or 'flowcast import --out'")
    if not path.is_dir():
        raise DatasetError(f"{path} is not a dataset directory (expected {ROADS_FILE} "
                           f"and/or {SPOTS_FILE} inside)")
    roads = _open(path / ROADS_FILE)
    spots = _open(path / SPOTS_FILE)
    if roads is None and spots is None:
        raise DatasetError(f"{path} holds neither {ROADS_FILE} nor {SPOTS_FILE}; "
                           "it is not a flowcast dataset")
    city_file = path / CITY_FILE
    city = city_file.read_text(encoding="utf-8") if city_file.exists() else None
    return FlowDataset(roads=roads, spots=spots, city_geojson=city)


def _open(file: Path) -> xr.Dataset | None:
    if not file.exists():
        return None
    try:
        with xr.open_dataset(file, engine="h5netcdf") as ds:
            loaded = ds.load()
    except (OSError, ValueError) as err:
        raise DatasetError(f"{file} cannot be read as NetCDF: {err}") from None
    if "time" not in loaded.dims:
        raise DatasetError(f"{file} has no 'time' axis; it is not a flowcast series dataset")
    if "interval_s" not in loaded.attrs:
        raise DatasetError(f"{file} lacks the 'interval_s' attribute; re-create it with flowcast")
    return loaded


def graph_of(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """The dataset's sensor graph as ``(indptr, indices)`` CSR arrays, or None if it has none."""
    if "graph_indptr" not in ds:
        return None
    return ds["graph_indptr"].values, ds["graph_indices"].values
