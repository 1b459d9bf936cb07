"""``flowcast backtest``: how good the road forecasts are, before anyone trusts a screen with them.

Chronological only: a single split or rolling origins, every model trained on the data before
its fold's first origin; the baselines beside it; the report directory of
``docs/backtest-report.md``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import xarray as xr

from flowcast.cli.flags import LEARNING_RATE, TEST_FRACTION, WholeNumber
from flowcast.cli.train import DEFAULT_HORIZONS, horizon_steps, model_settings
from flowcast.errors import FlowcastUserError
from flowcast.evaluation.backtest import (
    BacktestResult,
    BacktestSetup,
    backtest_roads,
    result_meta,
)
from flowcast.evaluation.folds import PROTOCOLS, plan_folds
from flowcast.evaluation.metrics import TGCN_PROTOCOL, horizon_metrics
from flowcast.evaluation.prediction_rows import ROAD_BASELINES
from flowcast.evaluation.report import check_report_dir, write_report
from flowcast.evaluation.report_text import format_table
from flowcast.evaluation.road_dataset import (
    check_dataset_dir,
    check_horizon_fits,
    dataset_city,
    dataset_title,
    iso_bucket,
    load_roads,
    unit_label,
)
from flowcast.evaluation.summary import records
from flowcast.formats.dataset import load_dataset
from flowcast.models.roads.artifact import load_model, read_model_json, record_backtest
from flowcast.models.roads.feature_spec import VARIABLES, FeatureSpec
from flowcast.models.roads.forecaster import MODEL_NAME, RoadForecaster
from flowcast.models.roads.training import TrainConfig, data_hash


@click.command("backtest")
@click.argument("dataset", metavar="DATASET", type=click.Path(path_type=Path))
@click.option("--report", metavar="DIR", help="Report directory to write (required).")
@click.option("--model", "model_dir", metavar="MODEL_DIR",
              help="Backtest this model's spec and settings (retrained per fold), or the model "
                   "itself when its training ended before the test span.")
@click.option("--record", is_flag=True,
              help="With --model: also keep this backtest's scores in MODEL_DIR/model.json "
                   "(metrics.backtests). Off by default: only the report is written.")
@click.option("--test-fraction", metavar="F", type=TEST_FRACTION, default=0.2,
              help="Share of the data at the end that is tested (default 0.2).")
@click.option("--folds", metavar="K", type=WholeNumber(min=1), default=1,
              help="Rolling origins: cut the test span into K folds, each with a model trained "
                   "on everything before it (default 1: a single split).")
@click.option("--horizons", metavar="MIN,...",
              help=f"Horizons in minutes (default the model's, else {DEFAULT_HORIZONS}).")
@click.option("--protocol", default="standard", show_default=True,
              metavar="|".join(PROTOCOLS),
              help="tgcn: T-GCN's 80/20 split, every step 1..h, scored pooled with zeros kept.")
@click.option("--target", metavar="|".join(VARIABLES),
              help="Variable to forecast (default the model's, else speed).")
@click.option("--quantiles/--no-quantiles", default=None,
              help="P10/P90 boosters (default: the model's, else on).")
@click.option("--zero-is-missing/--keep-zeros", default=None,
              help="Exact zeros of the target are no data: not learnt, missing in the inputs "
                   "and (except under tgcn) not scored. Default: the model's, else keep.")
@click.option("--raw-history", is_flag=True,
              help="Models read the dataset as stored, not the history the engine builds from "
                   "it (quality flags and imputation, as the model is served).")
@click.option("--stride", metavar="N", type=WholeNumber(min=1),
              help="Every N-th time as a training row.")
@click.option("--sensors", metavar="N", type=WholeNumber(min=1),
              help="Train on a random sample of N sensors.")
@click.option("--max-trees", metavar="N", type=WholeNumber(min=1),
              help="At most N boosting rounds per booster.")
@click.option("--learning-rate", metavar="R", type=LEARNING_RATE, help="LightGBM learning rate.")
@click.option("--threads", metavar="N", type=WholeNumber(min=0),
              help="LightGBM threads (default: LightGBM's choice).")
def backtest(dataset: Path, report: str | None, model_dir: str | None, record: bool,
             test_fraction: float, folds: int, horizons: str | None, protocol: str,
             target: str | None, quantiles: bool | None, zero_is_missing: bool | None,
             raw_history: bool, stride: str | None, sensors: str | None, max_trees: str | None,
             learning_rate: str | None, threads: str | None) -> None:
    """Backtest the road forecaster and the baselines on a dataset, chronologically.

    Writes DIR/metrics.json, DIR/predictions.csv and DIR/report.html, and prints the metrics
    per horizon with the verdict against the baselines. A --model directory is only read,
    unless --record.

    \b
    Examples:
      flowcast backtest data/history --report reports/roads
      flowcast backtest data/history --folds 4 --horizons 15,30,60 --report reports/rolling
      flowcast backtest data/sz --protocol tgcn --zero-is-missing --report reports/sz
      flowcast backtest data/history --model models/roads --report reports/model
    """
    if report is None:
        raise FlowcastUserError("say where to write the report: --report DIR")
    if protocol not in PROTOCOLS:
        raise FlowcastUserError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got "
                                f"{protocol!r}")
    if record and model_dir is None:
        raise FlowcastUserError("--record keeps the scores in a model's model.json; say which "
                                "model with --model MODEL_DIR")
    check_report_dir(report)
    fraction, n_folds = test_fraction, folds
    overrides = {"stride": stride, "max_sensors": sensors, "threads": threads,
                 "quantiles": quantiles, "zero_is_missing": zero_is_missing,
                 **model_settings(max_trees, learning_rate)}
    doc = read_model_json(Path(model_dir)) if model_dir is not None else None
    target = target or (doc["target"] if doc else "speed")
    check_dataset_dir(dataset)
    data = load_dataset(dataset)
    roads = load_roads(dataset, target, data)
    interval = int(roads.attrs["interval_s"])
    model = load_model(model_dir, bucket_s=interval, target=target) if model_dir else None
    steps = _steps(horizons, model, interval, protocol)
    setup = _setup(model, steps, target, interval, overrides)
    check_horizon_fits(steps, roads.sizes["time"], setup.spec, interval)
    setup = _as_is(setup, roads, fraction, n_folds, protocol)
    city = dataset_city(data, dataset)
    if model is not None and model.spec.directed and city is None:
        raise FlowcastUserError(f"model {model_dir} reads upstream/downstream neighbours, which "
                                f"come from a city file; {dataset} has no city.geojson: copy "
                                "the city the model was trained with into it")
    described = _model_sentence(setup, model_dir)
    click.echo(f"model: {described}")
    began = time.perf_counter()
    result = backtest_roads(roads, setup, test_fraction=fraction, folds=n_folds,
                            protocol=protocol, progress=True, raw_history=raw_history,
                            city=city)
    seconds = time.perf_counter() - began
    _write(Path(report), result, roads, dataset, setup, seconds,
           {"model": described, **_model_meta(setup, model_dir)})
    if model_dir is not None and record:
        _record(Path(model_dir), result, roads, dataset, Path(report))
    elif model_dir is not None:
        click.echo(f"{model_dir} left as it was (add --record to keep these scores in its "
                   "model.json)")


def _steps(text: str | None, model: RoadForecaster | None, interval: int,
           protocol: str) -> tuple[int, ...]:
    """Horizons in buckets: ``--horizons``, else the model's, else the default; under tgcn
    every step from 1 to the longest."""
    if text is not None:
        steps = horizon_steps(text, interval)
    elif model is not None:
        steps = model.horizons
    else:
        steps = horizon_steps(DEFAULT_HORIZONS, interval)
    return tuple(range(1, max(steps) + 1)) if protocol == "tgcn" else steps


def _setup(model: RoadForecaster | None, steps: tuple[int, ...], target: str, interval: int,
           overrides: dict[str, Any]) -> BacktestSetup:
    """The spec and training settings: the model's (flags override them), else the defaults
    for the dataset's bucket."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if model is None:
        spec = FeatureSpec.for_bucket(interval, target, horizons=steps)
        return BacktestSetup(spec, TrainConfig(horizons=steps, **given))
    try:
        base = TrainConfig.from_dict(model.info.get("training", {}).get("config", {}))
    except (TypeError, ValueError) as err:
        raise FlowcastUserError(f"the model's training settings cannot be read ({err}); "
                                "re-train the model") from None
    if "params" in given:
        given["params"] = {**base.params, **given["params"]}
    return BacktestSetup(model.spec, replace(base, horizons=steps, **given), model)


def _as_is(setup: BacktestSetup, roads: xr.Dataset, fraction: float, folds: int,
           protocol: str) -> BacktestSetup:
    """Use the given model itself when its training ended at or before the first fold's
    training end, it has every horizon asked for and the same zero rule."""
    model = setup.model
    if model is None:
        return setup
    last = model.info.get("training", {}).get("last_bucket")
    if (last is None or not set(setup.config.horizons) <= set(model.horizons)
            or setup.config.zero_is_missing != model.zero_is_missing):
        return setup
    plan = plan_folds(roads.sizes["time"], setup.config.horizons, test_fraction=fraction,
                      folds=folds, protocol=protocol, bucket_s=int(roads.attrs["interval_s"]))
    boundary = pd.Timestamp(np.asarray(roads["time"].values)[plan[0].train_end - 1], tz="UTC")
    if pd.Timestamp(last) > boundary:
        return setup
    return replace(setup, as_is=True)


def _model_sentence(setup: BacktestSetup, model_dir: str | None) -> str:
    """What was scored, in one plain sentence (the terminal and the report say the same)."""
    model = setup.model
    if model is None:
        return ("LightGBM with the default spec and settings, trained per fold on the data "
                "before each fold's first origin")
    if setup.as_is:
        return (f"{model_dir} (version {model.version}) evaluated as-is: its training ended "
                f"at {model.info['training']['last_bucket']}, before the test span")
    return (f"LightGBM retrained per fold from the settings of {model_dir} (version "
            f"{model.version}): its feature spec and LightGBM settings, trained on the data "
            "before each fold's first origin. That model itself is not scored: its own "
            "training overlaps the test span")


def _model_meta(setup: BacktestSetup, model_dir: str | None) -> dict[str, Any]:
    """The model's entries of ``meta``: its version only when that model was scored."""
    model = setup.model
    if model is None:
        return {}
    if setup.as_is:
        return {"model_dir": model_dir, "model_version": model.version}
    return {"settings_from": {"model_dir": model_dir, "model_version": model.version}}


def _write(report: Path, result: BacktestResult, roads: xr.Dataset, dataset: Path,
           setup: BacktestSetup, seconds: float, model_meta: dict[str, Any]) -> None:
    interval = int(roads.attrs["interval_s"])
    zero = result.scoring["zero_is_missing"]
    target = setup.spec.target
    unit = unit_label(roads, target)
    meta = {"dataset": str(dataset.resolve()), "data_hash": data_hash(roads),
            "target": target, "seconds": round(seconds, 1), **model_meta,
            "training": setup.config.to_dict(), **result_meta(result)}
    files = write_report(report, result.predictions,
                         title=f"Backtest of {dataset_title(roads, dataset)}", meta=meta,
                         timezone=str(roads.attrs.get("timezone", "UTC")),
                         interval_s=interval, model=MODEL_NAME, baselines=ROAD_BASELINES,
                         zero_is_missing=zero, variable=target, unit=unit)
    table = horizon_metrics(result.predictions, zero_is_missing=zero)
    scoring = "exact zeros not scored" if zero else "zeros scored as values"
    click.echo(f"per horizon ({scoring}):")
    click.echo(format_table(table, model=MODEL_NAME, baselines=ROAD_BASELINES,
                            interval_s=interval, unit=unit))
    if result.protocol == "tgcn":
        click.echo("\nT-GCN protocol (steps 1..h pooled, zeros kept):")
        click.echo(format_table(horizon_metrics(result.predictions, **TGCN_PROTOCOL),
                                model=MODEL_NAME, baselines=ROAD_BASELINES,
                                interval_s=interval, unit=unit))
    click.echo(f"\nreport -> {files.metrics_json.parent} (metrics.json, predictions.csv, "
               f"report.html); {len(result.folds)} fold(s), {seconds:.1f} s")


def _record(model_dir: Path, result: BacktestResult, roads: xr.Dataset, dataset: Path,
            report: Path) -> None:
    """Keep a summary of this backtest in the model's model.json (``--record`` only)."""
    zero = result.scoring["zero_is_missing"]
    summary = {
        "at": pd.Timestamp.now(tz="UTC").isoformat(),
        "dataset": str(dataset.resolve()),
        "data_hash": data_hash(roads),
        "report": str(report.resolve()),
        "model_mode": result.mode,
        "protocol": result.protocol,
        "span": [iso_bucket(np.asarray(roads["time"].values), 0),
                 iso_bucket(np.asarray(roads["time"].values), roads.sizes["time"] - 1)],
        "per_horizon": records(horizon_metrics(result.predictions, zero_is_missing=zero)),
    }
    try:
        record_backtest(model_dir, summary)
    except OSError as err:
        click.echo(f"note: could not record the backtest in {model_dir}: {err}")
        return
    click.echo(f"recorded in {model_dir / 'model.json'} (metrics.backtests)")
