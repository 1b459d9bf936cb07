"""A dataset's road series as training, backtests and replays read them: checked, with its city.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from flowcast.city import City
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_read import city_from_geojson
from flowcast.formats.dataset import CITY_FILE, FlowDataset, load_dataset
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
