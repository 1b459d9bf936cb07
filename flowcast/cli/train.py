"""``flowcast train``: fit the LightGBM road forecaster on a dataset and write the model dir.

The helpers here (flag parsing, loading the road series) are shared with ``flowcast backtest``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import xarray as xr

from flowcast.city import City
from flowcast.cli.flags import parse_int
from flowcast.config import load_settings
from flowcast.errors import FlowcastUserError
from flowcast.evaluation.backtest import ROAD_BASELINES, Grid, validation_predictions
from flowcast.evaluation.metrics import horizon_metrics, records
from flowcast.evaluation.report_text import format_table
from flowcast.formats.city_read import city_from_geojson
from flowcast.formats.dataset import CITY_FILE, FlowDataset, load_dataset
from flowcast.models.roads.artifact import check_out_dir, save_model
from flowcast.models.roads.features import VARIABLES, FeatureSpec
from flowcast.models.roads.forecaster import MODEL_NAME, horizons_to_steps
from flowcast.models.roads.training import (
    TrainConfig,
    TrainResult,
    data_hash,
    history_note,
    road_history,
    train_road_model,
)
from flowcast.models.spots.pipeline import save_spots, train_spots

DEFAULT_HORIZONS = "15,30,45,60"
# a spot model on less history than this never sees its last-week features and learns a few
# days by heart: seasonal naive (yesterday) serves better
MIN_SPOT_HISTORY_DAYS = 14


# ----- flags shared with `flowcast backtest` -------------------------------------------------

def parse_rate(text: str | None) -> float | None:
    """``--learning-rate``: a number in (0, 1], or None."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise FlowcastUserError(f"--learning-rate must be a number in (0, 1], got {text!r}")
    return value


def model_settings(max_trees: str | None, learning_rate: str | None) -> dict[str, Any]:
    """TrainConfig keywords of ``--max-trees`` and ``--learning-rate`` (only those given)."""
    out: dict[str, Any] = {}
    if max_trees is not None:
        out["max_rounds"] = parse_int("--max-trees", max_trees, None)
    rate = parse_rate(learning_rate)
    if rate is not None:
        out["params"] = {"learning_rate": rate}
    return out


def parse_minutes(text: str) -> list[int]:
    """``"15,30,45,60"`` -> ``[15, 30, 45, 60]`` (minutes)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FlowcastUserError(f"--horizons must be minutes separated by commas, e.g. "
                                f"15,30,45,60; got {text!r}") from None
    if not values:
        raise FlowcastUserError("--horizons is empty; give minutes such as 15,30,45,60")
    return values


def horizon_steps(text: str, interval_s: int) -> tuple[int, ...]:
    """``--horizons`` (minutes) as whole buckets of the dataset, ascending."""
    try:
        return horizons_to_steps(parse_minutes(text), interval_s)
    except ValueError as err:
        raise FlowcastUserError(f"--horizons: {err}") from None


def load_roads(path: Path, target: str, data: FlowDataset | None = None) -> xr.Dataset:
    """The road series of the dataset at ``path`` (or of ``data``, already loaded from it),
    checked to hold ``target``."""
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
    """Refuse a horizon longer than half of what a history of ``n_buckets`` can anchor: the
    rest would leave too few rows to learn and validate."""
    room = (n_buckets - spec.min_history + 1) // 2
    if max(steps) > room:
        raise FlowcastUserError(
            f"the longest horizon ({max(steps) * interval_s / 60:g} min = {max(steps)} "
            f"buckets) is longer than the data allows ({n_buckets} buckets of "
            f"{interval_s} s); use shorter --horizons or a longer dataset")


def iso_bucket(times: np.ndarray, column: int) -> str:
    """The start of bucket ``column`` as ISO 8601 UTC."""
    return pd.Timestamp(times[column], tz="UTC").isoformat().replace("+00:00", "Z")


# ----- flowcast train --------------------------------------------------------------------------

@click.command("train")
@click.argument("dataset", metavar="DATASET", type=click.Path(path_type=Path))
@click.option("--out", metavar="MODEL_DIR", help="Model directory to write (required).")
@click.option("--force", is_flag=True, help="Replace --out if it already holds a model.")
@click.option("--horizons", default=DEFAULT_HORIZONS, show_default=True, metavar="MIN,...",
              help="Forecast horizons in minutes, multiples of the dataset's bucket.")
@click.option("--target", default="speed", show_default=True, metavar="|".join(VARIABLES),
              help="Variable to forecast.")
@click.option("--quantiles/--no-quantiles", default=True, show_default=True,
              help="Also train P10/P90 boosters (intervals; triples training time).")
@click.option("--stride", metavar="N", help="Use every N-th time as a training row (default 1).")
@click.option("--sensors", metavar="N",
              help="Train on a random sample of N sensors (default all; for large cities).")
@click.option("--zero-is-missing/--keep-zeros", default=False, show_default=True,
              help="Treat exact zeros of the target as no data (SZ-taxi): never learnt, "
                   "and missing in the features.")
@click.option("--raw-history", is_flag=True,
              help="Train on the dataset as stored, not on the history the engine builds "
                   "from it (quality flags and imputation, as the model is served).")
@click.option("--max-trees", metavar="N",
              help="At most N boosting rounds per booster (default 2000; early stopping "
                   "usually ends sooner). Fewer trees = faster live forecasts.")
@click.option("--learning-rate", metavar="R", help="LightGBM learning rate (default 0.05).")
@click.option("--threads", metavar="N", help="LightGBM threads (default: LightGBM's choice).")
@click.option("--seed", metavar="S", default="0", show_default=True, help="Random seed.")
@click.option("--spots/--no-spots", default=True, show_default=True,
              help="Also train the intra-day scenic-spot model (MODEL_DIR/spots) when the "
                   "dataset has spots.nc; its horizons are engine.spot_horizons_min.")
def train(dataset: Path, out: str | None, force: bool, horizons: str, target: str,
          quantiles: bool, stride: str | None, sensors: str | None, zero_is_missing: bool,
          raw_history: bool, max_trees: str | None, learning_rate: str | None, threads: str | None,
          seed: str, spots: bool) -> None:
    """Train the LightGBM road forecaster (one booster per horizon) on a dataset.

    Prints the error on a time-ordered validation tail next to the baselines, then writes the
    model directory (LightGBM text models + model.json).

    \b
    Examples:
      flowcast train data/history --out models/roads
      flowcast train data/sz --out models/sz --zero-is-missing --horizons 15,30,45,60
      flowcast train data/city10k --out models/big --stride 12 --sensors 1000 \\
          --no-quantiles --learning-rate 0.2 --max-trees 150
    """
    if out is None:
        raise FlowcastUserError("say where to write the model: --out MODEL_DIR")
    if target not in VARIABLES:
        raise FlowcastUserError(f"--target must be one of {', '.join(VARIABLES)}, got {target!r}")
    out_dir = Path(out)
    check_out_dir(out_dir, force)
    config_kw = {"stride": parse_int("--stride", stride, 1),
                 "max_sensors": parse_int("--sensors", sensors, None),
                 "threads": parse_int("--threads", threads, 0, minimum=0),
                 "seed": parse_int("--seed", seed, 0, minimum=0),
                 **model_settings(max_trees, learning_rate)}
    data = load_dataset(dataset) if dataset.is_dir() else None
    roads = load_roads(dataset, target, data)
    interval = int(roads.attrs["interval_s"])
    steps = horizon_steps(horizons, interval)
    spec = FeatureSpec.for_bucket(interval, target, horizons=steps)
    check_horizon_fits(steps, roads.sizes["time"], spec, interval)
    config = TrainConfig(horizons=steps, quantiles=quantiles, zero_is_missing=zero_is_missing,
                         **config_kw)
    began = time.perf_counter()
    history = road_history(roads, target=target, zero_is_missing=zero_is_missing,
                           raw=raw_history, city=dataset_city(data, dataset))
    try:
        result = train_road_model(history, spec, config, progress=True)
    except ValueError as err:
        raise FlowcastUserError(str(err)) from None
    seconds = time.perf_counter() - began
    table = horizon_metrics(validation_predictions(
        Grid.from_roads(roads, target), history.measured_values(target), result.validation,
        steps))
    click.echo(f"validation tail (last {config.validation_fraction:.0%} of the training times, "
               f"never used to fit the boosters it scores):")
    click.echo(format_table(table, model=MODEL_NAME, baselines=ROAD_BASELINES,
                            interval_s=interval))
    spot_model = None
    if spots and data is not None and data.spots is not None:
        days = data.spots.sizes["time"] * int(data.spots.attrs["interval_s"]) / 86400
        if days < MIN_SPOT_HISTORY_DAYS:
            click.echo(f"spot model skipped: the dataset has {days:.1f} days of scenic-spot "
                       f"history, it needs {MIN_SPOT_HISTORY_DAYS} (a week for its same-time-"
                       "last-week features, a week to learn from); the engine forecasts spots "
                       "with seasonal naive")
        else:
            spot_kw = {k: v for k, v in config_kw.items() if k != "max_sensors"}
            spot_model = train_spots(dataset, data, load_settings(), spot_kw, quantiles)
    training = _training_doc(dataset, roads, result, seconds)
    training["history"] = history_note(raw_history)
    save_model(result.model, out_dir, training=training,
               metrics={"validation": records(table)}, overwrite=force)
    click.echo(f"model {result.model.version} -> {out_dir} ({len(steps)} horizons, "
               f"{'with' if quantiles else 'no'} P10/P90; trained in {seconds:.1f} s)")
    if spot_model is not None:
        save_spots(out_dir, *spot_model)


def _training_doc(dataset: Path, roads: xr.Dataset, result: TrainResult,
                  seconds: float) -> dict[str, Any]:
    """``model.json``'s ``training`` section."""
    times = np.asarray(roads["time"].values)
    return {
        "dataset": str(dataset.resolve()),
        "data_hash": data_hash(roads),
        "sensors": int(roads.sizes["sensor"]),
        "first_bucket": iso_bucket(times, 0),
        "last_bucket": iso_bucket(times, result.end - 1),
        "rows": {str(h): n for h, n in result.rows.items()},
        "best_iteration": {str(h): n for h, n in result.best_iteration.items()},
        "config": result.config.to_dict(),
        "seconds": round(seconds, 2),
        "missing_targets": ("NaN, imputed and beyond-the-data targets excluded"
                            + ("; exact zeros too (no data)" if result.config.zero_is_missing
                               else "")),
    }
