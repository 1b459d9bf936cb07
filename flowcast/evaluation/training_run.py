"""Training on a dataset, start to finish: what ``flowcast train`` and the demo run.

:func:`train_dataset` trains the road model, scores its validation tail beside every road
baseline, trains the intra-day spot model when the dataset has enough scenic-spot history, and
writes the model directory (``model.json`` with the training facts and the validation table).
It lives in ``evaluation/`` because the validation table needs the backtest's baselines and
metrics; it knows no command line: progress goes to a ``say`` callback (lines) and the
progress bars of :func:`flowcast.progress.progress_bar` (drawn on a terminal only).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from flowcast.config import Settings, load_settings
from flowcast.errors import FlowcastUserError
from flowcast.evaluation.metrics import horizon_metrics
from flowcast.evaluation.prediction_rows import ROAD_BASELINES, Grid, validation_predictions
from flowcast.evaluation.report_text import format_table
from flowcast.evaluation.road_dataset import (
    check_horizon_fits,
    dataset_city,
    iso_bucket,
    load_roads,
    unit_label,
)
from flowcast.evaluation.summary import records
from flowcast.formats.dataset import FlowDataset, load_dataset
from flowcast.models.horizons import minutes_to_buckets
from flowcast.models.roads.artifact import check_out_dir, save_model
from flowcast.models.roads.feature_spec import VARIABLES, FeatureSpec
from flowcast.models.roads.forecaster import MODEL_NAME, RoadForecaster
from flowcast.models.roads.training import (
    TrainConfig,
    TrainResult,
    data_hash,
    history_note,
    road_history,
    train_road_model,
)
from flowcast.models.spots.pipeline import save_spots, train_spots

DEFAULT_HORIZONS_MIN = (15, 30, 45, 60)
# a spot model on less history than this never sees its last-week features and learns a few
# days by heart: seasonal naive (yesterday) serves better
MIN_SPOT_HISTORY_DAYS = 14


@dataclass(frozen=True)
class TrainRun:
    """What to train: the ``dataset`` directory, the model directory ``out`` (replaced only with
    ``overwrite``, and only when it is a model directory), ``horizons_min`` (minutes, multiples
    of the dataset's bucket), the ``target`` variable, P10/P90 boosters (``quantiles``), exact
    zeros as no data (``zero_is_missing``), the dataset as stored rather than the engine's
    cleaned history (``raw_history``), the spot model too (``spots``), and ``lightgbm``: the
    other :class:`~flowcast.models.roads.training.TrainConfig` keywords (``stride``,
    ``max_sensors``, ``threads``, ``seed``, ``max_rounds``, ``params``)."""

    dataset: Path
    out: Path
    horizons_min: Sequence[int] = DEFAULT_HORIZONS_MIN
    target: str = "speed"
    quantiles: bool = True
    zero_is_missing: bool = False
    raw_history: bool = False
    spots: bool = True
    overwrite: bool = False
    lightgbm: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainOutcome:
    """What a run wrote: the road ``model`` (saved, in ``out``), its validation ``table``
    (``horizon_metrics`` of the model and the baselines), the spot model directory (None when
    none was trained) and the road training time in seconds."""

    model: RoadForecaster
    table: Any
    spot_dir: Path | None
    seconds: float


def train_dataset(run: TrainRun, settings: Settings | None = None, *,
                  say: Callable[[str], None] = print, progress: bool = True) -> TrainOutcome:
    """Train and write the model directory of ``run`` (see the module docstring). ``settings``
    give the engine's spot horizons (default :func:`~flowcast.config.load_settings`, read only
    when a spot model is trained); ``say`` receives the lines to show (the validation tables
    and what was written); ``progress`` shows progress bars. Raises :class:`FlowcastUserError`
    naming the fix for anything the data or the options do not allow, before writing."""
    if run.target not in VARIABLES:
        raise FlowcastUserError(f"--target must be one of {', '.join(VARIABLES)}, got "
                                f"{run.target!r}")
    check_out_dir(run.out, run.overwrite)
    data = load_dataset(run.dataset) if run.dataset.is_dir() else None
    roads = load_roads(run.dataset, run.target, data)
    interval = int(roads.attrs["interval_s"])
    try:
        steps = minutes_to_buckets(run.horizons_min, interval)
    except ValueError as err:
        raise FlowcastUserError(f"--horizons: {err}") from None
    spec = FeatureSpec.for_bucket(interval, run.target, horizons=steps)
    check_horizon_fits(steps, roads.sizes["time"], spec, interval)
    config = TrainConfig(horizons=steps, quantiles=run.quantiles,
                         zero_is_missing=run.zero_is_missing, **run.lightgbm)
    began = time.perf_counter()
    city = dataset_city(data, run.dataset)
    history = road_history(roads, target=run.target, zero_is_missing=run.zero_is_missing,
                           raw=run.raw_history, city=city)
    try:
        result = train_road_model(history, spec, config, progress=progress)
    except ValueError as err:
        raise FlowcastUserError(str(err)) from None
    seconds = time.perf_counter() - began
    table = horizon_metrics(validation_predictions(
        Grid.from_roads(roads, run.target), history.measured_values(run.target),
        result.validation, steps))
    say(f"validation tail (last {config.validation_fraction:.0%} of the training times, "
        f"never used to fit the boosters it scores):")
    say(format_table(table, model=MODEL_NAME, baselines=ROAD_BASELINES, interval_s=interval,
                     unit=unit_label(roads, run.target)))
    spot_model = _spot_model(run, data, settings, say, progress)
    training = _training_doc(run.dataset, roads, result, seconds)
    training["history"] = history_note(run.raw_history)
    save_model(result.model, run.out, training=training,
               metrics={"validation": records(table)}, overwrite=run.overwrite, city=city)
    say(f"model {result.model.version} -> {run.out} ({len(steps)} horizons, "
        f"{'with' if run.quantiles else 'no'} P10/P90; trained in {seconds:.1f} s)")
    spot_dir = None
    if spot_model is not None:
        spot_dir = save_spots(run.out, *spot_model, city=city)
        spot, spot_training = spot_model[0].model, spot_model[1]
        say(f"spot model {spot.version} -> {spot_dir} ({len(spot.horizons)} horizons, "
            f"{'with' if spot.has_intervals else 'no'} P10/P90; trained in "
            f"{spot_training['seconds']:.1f} s)")
    return TrainOutcome(result.model, table, spot_dir, seconds)


def _spot_model(run: TrainRun, data: FlowDataset | None, settings: Settings | None,
                say: Callable[[str], None], progress: bool) -> Any:
    """The trained spot model (``train_spots``' result), or None: not asked for, no spots in
    the dataset, or too little spot history (said)."""
    if not run.spots or data is None or data.spots is None:
        return None
    days = data.spots.sizes["time"] * int(data.spots.attrs["interval_s"]) / 86400
    if days < MIN_SPOT_HISTORY_DAYS:
        say(f"spot model skipped: the dataset has {days:.1f} days of scenic-spot history, it "
            f"needs {MIN_SPOT_HISTORY_DAYS} (a week for its same-time-last-week features, a "
            "week to learn from); the engine forecasts spots with seasonal naive")
        return None
    spot_kw = {k: v for k, v in run.lightgbm.items() if k != "max_sensors"}
    return train_spots(run.dataset, data, settings or load_settings(), spot_kw, run.quantiles,
                       say=say, progress=progress)


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
