"""Chronological backtests of the road forecaster against the baselines.

Protocols (``docs/models.md``):

- **single split** (``folds=1``): the last ``test_fraction`` of the buckets is the test span; the
  model is trained on the buckets before it and forecasts from every origin in it.
- **rolling origins** (``folds=K``): the test span is cut into ``K`` consecutive blocks; fold
  ``k`` trains a fresh model on every bucket before block ``k`` and forecasts from the origins
  in that block.
- **tgcn**: the T-GCN paper's protocol (Zhao et al. 2020): a single 80/20 split, the first
  origin ``seq_len - 1`` buckets into the test part (its input windows lie in the test part,
  ``seq_len`` = one hour of buckets: 4 x 15 min, 12 x 5 min), the data's last bucket never a
  target, every step 1..h forecast, scored pooled over steps with zeros kept.

An *origin* is the end of an anchor bucket ``o`` (everything up to and including bucket ``o``
is known); horizon ``h`` is the bucket ``o + h``, and a row's ``target_time`` is that bucket's
end (``origin + h x interval``, the engine's ``valid_at``). The model of a fold reads only the
buckets before the fold's first origin (the history is cut there before training: see
:func:`flowcast.models.roads.training.train_road_model`); features at an origin read that origin's
past only. The baselines read the same past (:mod:`flowcast.evaluation.prediction_rows`); the
folds are :mod:`flowcast.evaluation.folds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.folds import Fold, plan_folds
from flowcast.evaluation.prediction_rows import Grid, baseline_rows, forecast_rows
from flowcast.evaluation.predictions import validate_predictions
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.forecaster import RoadForecaster
from flowcast.models.roads.matrices import build_rows
from flowcast.models.roads.training import (
    TrainConfig,
    history_note,
    road_history,
    train_road_model,
)
from flowcast.progress import progress_bar

if TYPE_CHECKING:
    import xarray as xr

    from flowcast.city import City


@dataclass
class FoldInfo:
    """What ran in one fold, for the report's metadata."""

    index: int
    trained_to: str  # start of the last bucket the fold's model read (ISO 8601 UTC)
    first_origin: str
    last_origin: str
    origins: int
    model_version: str
    rows: dict[int, int] = field(default_factory=dict)


@dataclass
class BacktestResult:
    """The long predictions table (``flowcast.evaluation.metrics``; an extra ``fold`` column) of
    the model and every baseline, and how it was made: ``mode`` is ``trained``,
    ``retrained per fold`` (a given model's spec and settings) or ``as-is`` (a given model
    whose training ended before the test span)."""

    predictions: pd.DataFrame
    folds: list[FoldInfo]
    mode: str
    protocol: str
    horizons: tuple[int, ...]
    zero_is_missing_inputs: bool
    raw_history: bool = False

    @property
    def scoring(self) -> dict[str, bool]:
        """How to score: T-GCN keeps zeros; otherwise zeros are missing when the inputs'
        were."""
        return {"zero_is_missing": self.protocol != "tgcn" and self.zero_is_missing_inputs}



@dataclass
class BacktestSetup:
    """What to backtest: ``spec`` and ``config`` of the models trained per fold, or a given
    ``model`` (its spec and settings, retrained per fold unless ``as_is``)."""

    spec: FeatureSpec
    config: TrainConfig
    model: RoadForecaster | None = None
    as_is: bool = False


def backtest_roads(roads: xr.Dataset, setup: BacktestSetup, *, test_fraction: float = 0.2,
                   folds: int = 1, protocol: str = "standard", progress: bool = True,
                   raw_history: bool = False, city: City | None = None) -> BacktestResult:
    """Backtest on a road dataset: per fold, train on the past (or use the given model as-is),
    forecast every sensor from every origin, and add the baselines' rows.

    ``setup.config.horizons`` (buckets) are forecast; under ``tgcn`` they must be every step
    1..h. Inputs follow ``setup.config.zero_is_missing``; ``y_true`` is always the data as
    stored (zeros kept), so the caller scores with :attr:`BacktestResult.scoring`. The model's
    features read the history the engine would hold (:func:`~flowcast.models.roads.training.
    road_history`: the quality rules and imputation; ``raw_history`` for the dataset as
    stored; ``city`` for what the dataset lacks); the baselines read the measured values.
    Returns the validated table with a ``fold`` column.
    """
    config, spec = setup.config, setup.spec
    if protocol == "tgcn" and config.horizons != tuple(range(1, max(config.horizons) + 1)):
        raise FlowcastUserError(f"the tgcn protocol pools every step 1..h; forecast steps "
                                f"1..{max(config.horizons)}, not {list(config.horizons)}")
    history = road_history(roads, target=spec.target, zero_is_missing=config.zero_is_missing,
                           raw=raw_history, city=city)
    grid = Grid.from_roads(roads, spec.target)
    plan = plan_folds(history.n_buckets, config.horizons, test_fraction=test_fraction,
                      folds=folds, protocol=protocol, bucket_s=history.bucket_s,
                      min_train=spec.min_history + max(config.horizons) + 8)
    last_target = history.n_buckets - (2 if protocol == "tgcn" else 1)
    frames, infos = [], []
    for fold in progress_bar(plan, enabled=progress, desc="backtest folds", unit="fold"):
        model, rows = _fold_model(history, setup, fold, progress)
        frames.append(_fold_rows(grid, history, model, fold, config.horizons, last_target))
        infos.append(_info(fold, grid, model, rows, setup))
    mode = "as-is" if setup.as_is else ("retrained per fold" if setup.model else "trained")
    table = validate_predictions(pd.concat(frames, ignore_index=True))
    return BacktestResult(table, infos, mode, protocol, config.horizons,
                          config.zero_is_missing, raw_history)


def _fold_model(history: FeatureHistory, setup: BacktestSetup, fold: Fold,
                progress: bool) -> tuple[RoadForecaster, dict[int, int]]:
    if setup.as_is and setup.model is not None:
        return setup.model, {}
    result = train_road_model(history, setup.spec, setup.config, end=fold.train_end,
                              progress=progress)
    return result.model, result.rows


def _fold_rows(grid: Grid, history: FeatureHistory, model: RoadForecaster, fold: Fold,
               horizons: Sequence[int], last_target: int) -> pd.DataFrame:
    n = history.n_sensors
    sensor = np.tile(np.arange(n, dtype=np.int32), len(fold.origins))
    column = np.repeat(fold.origins.astype(np.int32), n)
    forecast = model.predict_rows(build_rows(history, model.spec, sensor, column))
    pick = [model.horizons.index(h) for h in horizons]
    own = forecast_rows(grid, sensor, column, horizons, forecast.y[:, pick], model.name,
                        p10=None if forecast.p10 is None else forecast.p10[:, pick],
                        p90=None if forecast.p90 is None else forecast.p90[:, pick],
                        last_target=last_target)
    inputs = history.measured_values(model.target)
    base = baseline_rows(grid, inputs, fold.origins, horizons, last_target=last_target)
    return pd.concat([own, base], ignore_index=True).assign(fold=fold.index)


def _info(fold: Fold, grid: Grid, model: RoadForecaster, rows: dict[int, int],
          setup: BacktestSetup) -> FoldInfo:
    def iso(col: int) -> str:
        return pd.Timestamp(grid.times[col], tz="UTC").isoformat()

    step = np.timedelta64(grid.interval_s, "s")
    trained_to = (str(setup.model.info.get("training", {}).get("last_bucket", "?"))
                  if setup.as_is and setup.model is not None else iso(fold.train_end - 1))
    return FoldInfo(fold.index, trained_to,
                    pd.Timestamp(grid.times[fold.origins[0]] + step, tz="UTC").isoformat(),
                    pd.Timestamp(grid.times[fold.origins[-1]] + step, tz="UTC").isoformat(),
                    len(fold.origins), model.version if setup.model else "trained per fold",
                    rows)


def result_meta(result: BacktestResult) -> dict[str, Any]:
    """The backtest's own facts for ``metrics.json``'s ``meta``: protocol, mode, horizons,
    zero rules and the folds."""
    return {
        "protocol": result.protocol,
        "model_mode": result.mode,
        "horizons_steps": list(result.horizons),
        "zeros_in_inputs": "missing" if result.zero_is_missing_inputs else "values",
        "history": history_note(result.raw_history),
        "zeros_in_scoring": "missing" if result.scoring["zero_is_missing"] else "kept",
        "folds": [vars(f) for f in result.folds],
    }
