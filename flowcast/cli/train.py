"""``flowcast train``: fit the LightGBM road forecaster on a dataset and write the model dir.

The command parses its flags and runs :func:`flowcast.evaluation.training_run.train_dataset`.
The flag helpers here are shared with ``flowcast backtest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from flowcast.cli.flags import LEARNING_RATE, WholeNumber
from flowcast.errors import FlowcastUserError
from flowcast.evaluation.training_run import TrainRun, train_dataset
from flowcast.models.horizons import minutes_to_buckets
from flowcast.models.roads.feature_spec import VARIABLES

DEFAULT_HORIZONS = "15,30,45,60"


# ----- flags shared with `flowcast backtest` -------------------------------------------------

def model_settings(max_trees: int | None, learning_rate: float | None) -> dict[str, Any]:
    """TrainConfig keywords of ``--max-trees`` and ``--learning-rate`` (only those given)."""
    out: dict[str, Any] = {}
    if max_trees is not None:
        out["max_rounds"] = max_trees
    if learning_rate is not None:
        out["params"] = {"learning_rate": learning_rate}
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
        return minutes_to_buckets(parse_minutes(text), interval_s)
    except ValueError as err:
        raise FlowcastUserError(f"--horizons: {err}") from None


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
@click.option("--stride", metavar="N", type=WholeNumber(min=1), default=1,
              help="Use every N-th time as a training row (default 1).")
@click.option("--sensors", metavar="N", type=WholeNumber(min=1),
              help="Train on a random sample of N sensors (default all; for large cities).")
@click.option("--zero-is-missing/--keep-zeros", default=False, show_default=True,
              help="Treat exact zeros of the target as no data (SZ-taxi): never learnt, "
                   "and missing in the features.")
@click.option("--raw-history", is_flag=True,
              help="Train on the dataset as stored, not on the history the engine builds "
                   "from it (quality flags and imputation, as the model is served).")
@click.option("--max-trees", metavar="N", type=WholeNumber(min=1),
              help="At most N boosting rounds per booster (default 2000; early stopping "
                   "usually ends sooner). Fewer trees = faster live forecasts.")
@click.option("--learning-rate", metavar="R", type=LEARNING_RATE,
              help="LightGBM learning rate (default 0.05).")
@click.option("--threads", metavar="N", type=WholeNumber(min=0), default=0,
              help="LightGBM threads (default: LightGBM's choice).")
@click.option("--seed", metavar="S", type=WholeNumber(min=0), default=0,
              show_default=True, help="Random seed.")
@click.option("--spots/--no-spots", default=True, show_default=True,
              help="Also train the intra-day scenic-spot model (MODEL_DIR/spots) when the "
                   "dataset has spots.nc; its horizons are engine.spot_horizons_min.")
def train(dataset: Path, out: str | None, force: bool, horizons: str, target: str,
          quantiles: bool, stride: int, sensors: int | None, zero_is_missing: bool,
          raw_history: bool, max_trees: int | None, learning_rate: float | None, threads: int,
          seed: int, spots: bool) -> None:
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
    lightgbm = {"stride": stride, "max_sensors": sensors, "threads": threads, "seed": seed,
                **model_settings(max_trees, learning_rate)}
    run = TrainRun(dataset, Path(out), horizons_min=parse_minutes(horizons), target=target,
                   quantiles=quantiles, zero_is_missing=zero_is_missing,
                   raw_history=raw_history, spots=spots, overwrite=force, lightgbm=lightgbm)
    train_dataset(run, say=click.echo)
