"""The spot half of a training run (:mod:`flowcast.evaluation.training_run`): fit the intra-day
spot model on a dataset's ``spots.nc``.

The horizons are the engine's (``engine.spot_horizons_min`` of the settings), so the model the
engine finds in ``MODEL_DIR/spots`` serves its horizons. Opening hours come from the dataset's
city file when it has one (``city.geojson``), else they are read off the data.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from flowcast.config import Settings
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_read import city_from_geojson
from flowcast.formats.dataset import FlowDataset
from flowcast.formats.model_city import CityIds
from flowcast.models.calendar import utc_offset_of
from flowcast.models.horizons import minutes_to_buckets
from flowcast.models.roads.training import TrainConfig
from flowcast.models.spots.artifact import save_spot_model, spot_model_dir
from flowcast.models.spots.features import SpotFeatureSpec, SpotSeries
from flowcast.models.spots.training import (
    SpotTrainResult,
    format_validation,
    train_spot_model,
    validation_table,
)

SPOT_VARIABLES_NEEDED = ("visitors", "arrivals")


def spot_data_hash(spots: xr.Dataset) -> str:
    """``sha256:<hex>`` of the spot ids, times, interval, capacities, visitors and arrivals."""
    digest = hashlib.sha256()
    digest.update(np.asarray(spots["spot"].values).astype(str).astype("U").tobytes())
    digest.update(np.asarray(spots["time"].values).astype("datetime64[ns]").tobytes())
    digest.update(str(int(spots.attrs.get("interval_s", 0))).encode())
    digest.update(np.asarray(spots["capacity_instant"].values, np.float64).tobytes())
    for name in SPOT_VARIABLES_NEEDED:
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(spots[name].values, np.float32).tobytes())
    return "sha256:" + digest.hexdigest()


def opening_hours(spots: xr.Dataset, city_geojson: str | None) -> tuple[np.ndarray, np.ndarray,
                                                                          str]:
    """``(opens_min, closes_min, source)`` per spot of ``spots``: the city file's hours when
    it lists every spot, else read off the data (:func:`hours_from_data`)."""
    ids = np.asarray(spots["spot"].values).astype(str)
    if city_geojson is not None:
        city = city_from_geojson(json.loads(city_geojson), source="city.geojson")
        index = city.spot_index(ids)
        if (index >= 0).all():
            return (city.spot_opens_min[index].astype(np.float64),
                    city.spot_closes_min[index].astype(np.float64), "city.geojson")
    series = SpotSeries.from_dataset(spots, opens_min=np.zeros(len(ids)),
                                     closes_min=np.full(len(ids), 1440.0))
    opens, closes = hours_from_data(series)
    return opens, closes, "the data"


def hours_from_data(series: SpotSeries) -> tuple[np.ndarray, np.ndarray]:
    """Opening hours read off a series (local minutes): the start of the first bucket of the
    day in which arrivals are ever seen, and the end of the bucket after the last one that ends
    with anyone inside (they leave in it); 00:00-24:00 for a spot never visited."""
    bpd = 86_400 // series.bucket_s
    local = (series.first_bucket + np.arange(series.n_buckets)
             + series.utc_offset_min * 60 // series.bucket_s) % bpd
    opens = np.zeros(series.n_spots)
    closes = np.full(series.n_spots, 1440.0)
    minutes = series.bucket_s / 60
    for k in range(series.n_spots):
        came = np.unique(local[np.nan_to_num(series.arrivals[k]) > 0])
        inside = np.unique(local[np.nan_to_num(series.visitors[k]) > 0])
        if len(came):
            opens[k] = came.min() * minutes
        if len(inside):
            closes[k] = min((inside.max() + 2) * minutes, 1440.0)
    return opens, closes


def train_spots(dataset: Path, data: FlowDataset, settings: Settings, config_kw: dict[str, Any],
                quantiles: bool, *, say: Callable[[str], None] = print, progress: bool = True
                ) -> tuple[SpotTrainResult, dict[str, Any], list[dict[str, Any]]]:
    """Train the spot model on ``data.spots`` with the road model's LightGBM settings
    (``config_kw``); ``say`` gets the validation table, ``progress`` shows a progress bar on a
    terminal. Returns the result, ``model.json``'s ``training`` section and the validation
    table."""
    spots = data.spots
    assert spots is not None
    missing = [v for v in SPOT_VARIABLES_NEEDED if v not in spots.data_vars]
    if missing or "capacity_instant" not in spots.coords:
        raise FlowcastUserError(f"dataset {dataset}: spots.nc lacks "
                                f"{', '.join(missing) or 'capacity_instant'}; re-create it, or "
                                "add --no-spots")
    interval = int(spots.attrs["interval_s"])
    try:
        steps = minutes_to_buckets(settings.engine.spot_horizons_min, interval)
        spec = SpotFeatureSpec(interval, steps)
    except ValueError as err:
        raise FlowcastUserError(f"spot model: engine.spot_horizons_min: {err}; or add "
                                "--no-spots") from None
    opens, closes, hours_source = opening_hours(spots, data.city_geojson)
    timezone = str(spots.attrs.get("timezone", "Asia/Shanghai"))
    series = SpotSeries.from_dataset(spots, opens_min=opens, closes_min=closes,
                                     utc_offset_min=utc_offset_of(timezone))
    config = TrainConfig(horizons=steps, quantiles=quantiles, **config_kw)
    began = time.perf_counter()
    try:
        result = train_spot_model(series, spec, config, progress=progress)
    except ValueError as err:
        raise FlowcastUserError(f"spot model: {err}; or add --no-spots") from None
    seconds = time.perf_counter() - began
    table = validation_table(result.validation, spec)
    say(f"spot model validation tail (last {config.validation_fraction:.0%} of the training "
        "times, spots open at the target time; MAE of saturation = visitors / instantaneous "
        "capacity):")
    say(format_validation(table))
    times = np.asarray(spots["time"].values)
    training = {
        "dataset": str(dataset.resolve()),
        "data_hash": spot_data_hash(spots),
        "spots": int(spots.sizes["spot"]),
        "first_bucket": _iso(times[0]),
        "last_bucket": _iso(times[result.end - 1]),
        "opening_hours_from": hours_source,
        "timezone": timezone,
        "rows": {str(h): n for h, n in result.rows.items()},
        "best_iteration": {str(h): n for h, n in result.best_iteration.items()},
        "config": config.to_dict(),
        "seconds": round(seconds, 2),
        "missing_targets": "NaN and beyond-the-data targets excluded from fitting and scoring",
    }
    return result, training, table


def save_spots(out_dir: Path, result: SpotTrainResult, training: dict[str, Any],
               table: list[dict[str, Any]], city: CityIds | None = None) -> Path:
    """Write the spot model to ``out_dir/spots`` (bound to ``city`` when given, as the road
    model is) and return that directory."""
    return save_spot_model(result.model, spot_model_dir(out_dir), training=training,
                           metrics={"validation": table}, overwrite=True, city=city)


def _iso(value: Any) -> str:
    return pd.Timestamp(value, tz="UTC").isoformat().replace("+00:00", "Z")
