"""A dataset's road series as training, backtests and replays read them: checked, with its city.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from flowcast.city import City
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_read import city_from_geojson
from flowcast.formats.dataset import CITY_FILE, ROADS_FILE, FlowDataset, load_dataset
from flowcast.models.roads.feature_spec import VARIABLES, FeatureSpec


def load_roads(path: Path, target: str, data: FlowDataset | None = None) -> xr.Dataset:
    """The road series of the dataset at ``path`` (or of ``data``, already loaded from it),
    checked to hold ``target`` and a history to learn from; else a :class:`FlowcastUserError`
    naming the fix."""
    dataset = data if data is not None else load_dataset(path)
    roads = dataset.roads
    if roads is None:
        raise FlowcastUserError(f"dataset {path} holds no road series (no roads.nc); "
                                "train and backtest need one")
    if target not in roads.data_vars:
        held = [v for v in VARIABLES if v in roads.data_vars]
        raise FlowcastUserError(f"dataset {path} has no {target!r} series (it holds "
                                f"{', '.join(held) or 'none'}); choose another --target")
    if roads.sizes.get("time", 0) < 2 or roads.sizes.get("sensor", 0) < 1:
        raise FlowcastUserError(f"dataset {path} holds {roads.sizes.get('time', 0)} time "
                                "step(s); it needs a history to learn from")
    return roads


def check_dataset_dir(path: Path, *, city: bool = False) -> None:
    """Refuse, before anything is loaded, a dataset ``path`` that is missing, not a directory
    or without ``roads.nc`` (and, with ``city``, without a readable ``city.geojson``): a
    :class:`FlowcastUserError` naming the fix."""
    if not path.exists():
        raise FlowcastUserError(f"dataset {path} does not exist; create one with 'flowcast "
                                "simulate --out' or 'flowcast import --out'")
    if not path.is_dir():
        raise FlowcastUserError(f"{path} is not a dataset directory (expected {ROADS_FILE} "
                                "inside)")
    if not (path / ROADS_FILE).is_file():
        raise FlowcastUserError(f"dataset {path} holds no road series (no {ROADS_FILE})")
    if not city:
        return
    file = path / CITY_FILE
    if not file.is_file():
        raise FlowcastUserError(
            f"dataset {path} has no {CITY_FILE}; the engine needs the city's sensors, "
            f"segments and regions: copy the city file to {file}, or for imported data "
            "re-import it with --city-out FILE")
    try:
        with file.open("rb") as handle:
            handle.read(1)
    except OSError as err:
        raise FlowcastUserError(f"city file {file} cannot be read: {err.strerror}") from None


def dataset_title(roads: xr.Dataset, path: Path) -> str:
    """What the data is, for a report's title: the dataset's ``title`` attribute, else what
    its ``source`` attribute says it was made from (the imported file, the simulated city),
    else the dataset's directory name."""
    title = str(roads.attrs.get("title") or "").strip()
    if title:
        return title
    source = str(roads.attrs.get("source") or "")
    imported = re.match(r"flowcast import (\S+)", source)
    if imported:
        return f"{imported.group(1)} (imported)"
    simulated = re.match(r"flowcast simulate \(city ([^,)]+)", source)
    if simulated:
        return f"simulated city {simulated.group(1)}"
    return path.resolve().name


def unit_label(roads: xr.Dataset, target: str) -> str | None:
    """How reports name the unit of ``target``: its ``units`` attribute (``km/h``), flow per
    bucket (``vehicles/15 min``), occupancy as a fraction; None when unknown."""
    unit = str(roads[target].attrs.get("units") or "") if target in roads else ""
    if unit == "vehicles":
        step = int(roads.attrs.get("interval_s", 0))
        return f"vehicles/{step // 60} min" if step and step % 60 == 0 else "vehicles/interval"
    if unit == "1":
        return "fraction 0..1"
    return unit or None


def dataset_city(data: FlowDataset | None, path: Path) -> City | None:
    """The city file of a dataset (``DATASET/city.geojson``), or None when it has none."""
    if data is None or data.city_geojson is None:
        return None
    try:
        document = json.loads(data.city_geojson)
    except json.JSONDecodeError as err:
        raise FlowcastUserError(f"{path / CITY_FILE} is not valid JSON: {err}") from None
    return city_from_geojson(document, source=str(path / CITY_FILE))


def check_horizon_fits(steps: tuple[int, ...], n_buckets: int, spec: FeatureSpec,
                       interval_s: int) -> None:
    """Refuse a horizon (``steps``, buckets) longer than half of what a history of
    ``n_buckets`` buckets of ``interval_s`` seconds can anchor: the rest would leave too few
    rows to learn and validate."""
    room = (n_buckets - spec.min_history + 1) // 2
    if max(steps) > room:
        raise FlowcastUserError(
            f"the longest horizon ({max(steps) * interval_s / 60:g} min = {max(steps)} "
            f"buckets) is longer than the data allows ({n_buckets} buckets of "
            f"{interval_s} s); use shorter --horizons or a longer dataset")


def iso_bucket(times: np.ndarray, column: int) -> str:
    """The start of bucket ``column`` of ``times`` (datetime64, UTC) as ISO 8601 UTC."""
    return pd.Timestamp(times[column], tz="UTC").isoformat().replace("+00:00", "Z")
