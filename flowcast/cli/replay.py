"""``flowcast replay``: stream a dataset through the real engine and score what it published.

The same metrics, report files and terminal table as ``flowcast backtest``, over what the
streaming path actually produced (``flowcast/evaluation/replay.py``, ``docs/replay.md``).
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np
import pandas as pd
import xarray as xr

from flowcast.city import City
from flowcast.cli.flags import TEST_FRACTION
from flowcast.config import Settings, load_settings
from flowcast.engine.metrics import Metrics
from flowcast.engine.model_holder import ModelHolder
from flowcast.errors import FlowcastUserError
from flowcast.evaluation.folds import plan_folds
from flowcast.evaluation.metrics import horizon_metrics
from flowcast.evaluation.prediction_rows import ROAD_BASELINES
from flowcast.evaluation.replay import ReplayResult, replay_meta, replay_roads
from flowcast.evaluation.replay_plan import ReplaySpan, replay_settings, span_between
from flowcast.evaluation.report import check_report_dir, write_report
from flowcast.evaluation.report_text import format_table
from flowcast.evaluation.road_dataset import (
    check_dataset_dir,
    dataset_city,
    dataset_title,
    unit_label,
)
from flowcast.evaluation.summary import records
from flowcast.formats.dataset import CITY_FILE, load_dataset
from flowcast.ingest.dataset_source import road_series
from flowcast.models.roads.artifact import read_model_json, record_backtest
from flowcast.models.roads.forecaster import MODEL_NAME, RoadForecaster
from flowcast.models.roads.training import data_hash


@click.command("replay")
@click.argument("dataset", metavar="DATASET", type=click.Path(path_type=Path))
@click.option("--model", "model_dir", metavar="MODEL_DIR",
              help="The road model the engine serves (required).")
@click.option("--report", metavar="DIR", help="Report directory to write (required).")
@click.option("--test-fraction", metavar="F", type=TEST_FRACTION,
              help="Score the forecasts issued in the last F of the data, like 'flowcast "
                   "backtest' (default 0.2).")
@click.option("--from", "start", metavar="ISO",
              help="Score forecasts issued from this time on (ISO 8601; without an offset, "
                   "the dataset's time zone).")
@click.option("--until", metavar="ISO", help="Score forecasts issued up to this time.")
@click.option("--config", "config", metavar="FILE", type=click.Path(path_type=Path),
              help="Settings file (default ./flowcast.toml when present).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (on a terminal only).")
@click.option("--record", is_flag=True,
              help="Also keep this replay's scores in MODEL_DIR/model.json "
                   "(metrics.backtests). Off by default: only the report is written.")
def replay(dataset: Path, model_dir: str | None, report: str | None,
           test_fraction: float | None, start: str | None, until: str | None,
           config: Path | None, progress: bool, record: bool) -> None:
    """Stream DATASET through the streaming engine in event time, as fast as it goes, and
    score the road conditions it published against the data.

    Writes DIR/metrics.json, DIR/predictions.csv and DIR/report.html (as 'flowcast backtest'),
    one series per road segment, and prints the metrics per horizon beside the baselines.
    The model directory is only read, unless --record.

    \b
    Examples:
      flowcast replay data/history --model models/roads --report reports/replay
      flowcast replay data/history --model models/roads --from 2026-10-10T00:00 \\
          --until 2026-10-11T00:00 --report reports/oct10
    """
    if model_dir is None:
        raise FlowcastUserError("say which model the engine serves: --model MODEL_DIR")
    if report is None:
        raise FlowcastUserError("say where to write the report: --report DIR")
    if test_fraction is not None and (start is not None or until is not None):
        raise FlowcastUserError("give either --test-fraction or --from/--until, not both")
    # every path is checked before the dataset and the boosters are loaded (seconds to minutes)
    read_model_json(model_dir)
    check_dataset_dir(dataset, city=True)
    check_report_dir(report)
    settings = load_settings(config)
    roads, city = _load(dataset)
    interval = int(roads.attrs["interval_s"])
    holder = ModelHolder.roads(model_dir, bucket_s=interval, metrics=Metrics(),
                               check_every_s=math.inf)
    model = holder.current()
    assert model is not None  # a required holder raised otherwise
    settings = replay_settings(settings, interval, model)
    times = np.asarray(roads["time"].values).astype("datetime64[ns]")
    timezone = str(roads.attrs.get("timezone") or city.timezone)
    if start is not None or until is not None:
        span = span_between(times, interval, model.spec.min_history, start, until, timezone)
    else:
        fraction = 0.2 if test_fraction is None else test_fraction
        span = _fraction_span(len(times), model, interval, fraction)
    series = road_series(roads, city)
    _in_sample_note(model, times, span)
    click.echo(f"replaying {dataset} through the engine: model {model.version}, "
               f"{series.n_sensors} sensors, {settings.topics.partitions} partitions, "
               f"origins {_iso(times, span.first_origin + 1)} .. "
               f"{_iso(times, span.last_origin + 1)}")
    result = replay_roads(roads, city, settings, holder, span, series, progress=progress)
    table = _write(Path(report), result, roads, dataset, settings, timezone, model_dir)
    if record:
        _record(Path(model_dir), result, roads, dataset, Path(report), table, times)
    else:
        click.echo(f"{model_dir} left as it was (add --record to keep these scores in its "
                   "model.json)")


def _load(path: Path) -> tuple[xr.Dataset, City]:
    """The road series and the city of a dataset, checked for what a replay needs."""
    data = load_dataset(path)
    if data.roads is None:
        raise FlowcastUserError(f"dataset {path} holds no road series (no roads.nc); "
                                "replay streams road readings")
    if "speed" not in data.roads.data_vars:
        raise FlowcastUserError(f"dataset {path} has no 'speed' series; the engine forecasts "
                                "speed, so there is nothing to score")
    if data.city_geojson is None:
        raise FlowcastUserError(f"dataset {path} has no {CITY_FILE}; the engine needs the "
                                f"city's sensors, segments and regions: copy the city file "
                                f"to {path / CITY_FILE}, or for imported data re-import it "
                                "with --city-out FILE")
    city = dataset_city(data, path)
    assert city is not None  # the dataset has a city file
    return data.roads, city


def _fraction_span(n_buckets: int, model: RoadForecaster, interval: int,
                   fraction: float) -> ReplaySpan:
    """The backtest's single-split origins for ``fraction`` (same checks, same words)."""
    fold = plan_folds(n_buckets, model.horizons, test_fraction=fraction, folds=1,
                      bucket_s=interval,
                      min_train=model.spec.min_history + max(model.horizons) + 8)[0]
    return ReplaySpan(int(fold.origins[0]), int(fold.origins[-1]), n_buckets - 1)


def _in_sample_note(model: RoadForecaster, times: np.ndarray, span: ReplaySpan) -> None:
    """Warn when the model's training span overlaps the scored span (the model cannot tell
    whether it was this dataset, so the note says "if")."""
    training = model.info.get("training", {})
    last = training.get("last_bucket")
    if last is None:
        return
    first = training.get("first_bucket")
    anchor = pd.Timestamp(times[span.first_origin], tz="UTC")
    end = pd.Timestamp(times[span.last_target], tz="UTC")
    if pd.Timestamp(last) > anchor and (first is None or pd.Timestamp(first) <= end):
        click.echo(f"note: the model was trained on data up to {last}, inside the replayed "
                   "span: if that was this dataset, its scores there are in-sample and "
                   "optimistic; train it on data before the span for an honest figure")


def _iso(times: np.ndarray, column: int) -> str:
    step = times[1] - times[0] if len(times) > 1 else np.timedelta64(0, "s")
    when = times[column] if column < len(times) else times[-1] + step
    return pd.Timestamp(when, tz="UTC").isoformat()


def _write(report: Path, result: ReplayResult, roads: xr.Dataset, dataset: Path,
           settings: Settings, timezone: str, model_dir: str) -> pd.DataFrame:
    """Write the report, print the table and the stream figures; returns the table."""
    interval = int(roads.attrs["interval_s"])
    zero = result.zero_is_missing
    meta = {"dataset": str(dataset.resolve()), "data_hash": data_hash(roads),
            "target": "speed", "seconds": round(result.stats.seconds, 1),
            "model": f"{model_dir} (version {result.model_version}) as served by the "
                     "streaming engine",
            "model_dir": model_dir, "model_version": result.model_version,
            **replay_meta(result, settings)}
    unit = unit_label(roads, "speed")
    files = write_report(report, result.predictions,
                         title=f"Replay of {dataset_title(roads, dataset)}", meta=meta,
                         timezone=timezone, interval_s=interval, model=MODEL_NAME,
                         baselines=ROAD_BASELINES, zero_is_missing=zero, variable="speed",
                         unit=unit)
    table = horizon_metrics(result.predictions, zero_is_missing=zero)
    scoring = "exact zeros not scored" if zero else "zeros scored as values"
    click.echo(f"per horizon, per segment ({scoring}):")
    click.echo(format_table(table, model=MODEL_NAME, baselines=ROAD_BASELINES,
                            interval_s=interval, unit=unit))
    s = result.stats
    click.echo(f"\nstreamed {s.readings:,} readings ({s.records:,} Arrow frames, {s.buckets:,} "
               f"buckets, {s.warmup_buckets:,} of them warm-up) through the engine in "
               f"{s.seconds:.1f} s: {s.readings_per_s:,.0f} readings/s")
    if s.deadletters:
        letters = ", ".join(f"{k} {v}" for k, v in sorted(s.deadletters.items()))
        click.echo(f"dead letters: {letters}")
    if result.fallback_rows:
        click.echo(f"note: {result.fallback_rows} forecast rows came from the engine's "
                   "baseline fallback (the model failed) and are not scored as the model")
    click.echo(f"report -> {files.metrics_json.parent} (metrics.json, predictions.csv, "
               "report.html)")
    return table


def _record(model_dir: Path, result: ReplayResult, roads: xr.Dataset, dataset: Path,
            report: Path, table: pd.DataFrame, times: np.ndarray) -> None:
    """Keep a summary of this replay beside the backtests in the model's model.json, so the
    streaming path's scores travel with the model (``--record`` only)."""
    summary = {
        "kind": "replay",
        "at": pd.Timestamp.now(tz="UTC").isoformat(),
        "dataset": str(dataset.resolve()),
        "data_hash": data_hash(roads),
        "report": str(report.resolve()),
        "series": "segment",
        "span": [_iso(times, result.span.first_origin + 1),
                 _iso(times, result.span.last_origin + 1)],
        "readings_per_s": round(result.stats.readings_per_s, 1),
        "per_horizon": records(table),
    }
    try:
        record_backtest(model_dir, summary)
    except OSError as err:
        click.echo(f"note: could not record the replay in {model_dir}: {err}")
        return
    click.echo(f"recorded in {model_dir / 'model.json'} (metrics.backtests, kind replay)")
