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
past only. The baselines read the same past: last value, historical average (same time of day
over 7 days), seasonal naive (a day ago) and profile-adjusted persistence (the last value
moved by the 7-day mean daily profile from now to the target time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.metrics import BASELINE_MODELS, validate_predictions
from flowcast.models.baselines import (
    Forecaster,
    LastValue,
    default_baselines,
    profile_adjusted_persistence,
)
from flowcast.models.roads.features import FeatureHistory, FeatureSpec, build_rows
from flowcast.models.roads.forecaster import RoadForecaster
from flowcast.models.roads.training import (
    TrainConfig,
    Validation,
    history_note,
    road_history,
    train_road_model,
)

if TYPE_CHECKING:
    import xarray as xr

    from flowcast.city import City

PROTOCOLS = ("standard", "tgcn")
PROFILE_PERSISTENCE = "profile_persistence"
ROAD_BASELINES = (*BASELINE_MODELS, PROFILE_PERSISTENCE)
"""Every baseline a road backtest scores (the model must beat all of them)."""
PROFILE_DAYS = 7
_CHUNK_VALUES = 20_000_000  # float32 values per baseline window chunk (80 MB)


@dataclass(frozen=True)
class Fold:
    """One fold: the model reads bucket columns ``< train_end``; it forecasts from the
    anchor columns ``origins`` (int64, ascending)."""

    index: int
    train_end: int
    origins: np.ndarray


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


# --------------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------------

def tgcn_seq_len(bucket_s: int) -> int:
    """T-GCN's input length in buckets: one hour (4 for 15-min buckets, 12 for 5-min)."""
    return max(1, 3600 // int(bucket_s))


def plan_folds(n_buckets: int, horizons: Sequence[int], *, test_fraction: float = 0.2,
               folds: int = 1, protocol: str = "standard", bucket_s: int = 300,
               min_train: int = 1) -> list[Fold]:
    """The folds of a backtest over ``n_buckets`` columns.

    The test span starts at column ``split = floor(n_buckets x (1 - test_fraction))`` (T-GCN's
    ``int(T * 0.8)``). ``folds`` blocks of (nearly) equal length cover it; fold ``k`` trains
    on the columns before its block and forecasts from the origins ``block_start - 1`` up to
    the column before the next block's first origin (the last fold: up to the last column with
    a target after it). Under ``tgcn`` the first origin is ``split + seq_len - 1`` and the last
    column is never a target. Raises :class:`FlowcastUserError` for a test fraction outside
    (0, 1), fewer than one fold, a horizon as long as the test span, or a first fold with
    fewer than ``min_train`` training columns.
    """
    if not 0 < test_fraction < 1:
        raise FlowcastUserError(f"--test-fraction must be between 0 and 1 (exclusive), got "
                                f"{test_fraction:g}")
    if folds < 1:
        raise FlowcastUserError(f"--folds must be at least 1, got {folds}")
    if protocol not in PROTOCOLS:
        raise FlowcastUserError(f"unknown protocol {protocol!r}; use one of "
                                f"{', '.join(PROTOCOLS)}")
    if protocol == "tgcn" and folds != 1:
        raise FlowcastUserError("the tgcn protocol is a single 80/20 split; drop --folds")
    split = int(np.floor(n_buckets * (1 - test_fraction) + 1e-9))
    first = split - 1 + (tgcn_seq_len(bucket_s) if protocol == "tgcn" else 0)
    last_target = n_buckets - (2 if protocol == "tgcn" else 1)
    _check_span(n_buckets, split, first, last_target, max(horizons), folds, min_train, bucket_s)
    starts = first + (np.arange(folds) * (last_target - first)) // folds
    ends = [*starts[1:], last_target]
    return [Fold(k, int(s) + 1 if protocol != "tgcn" else split,
                 np.arange(s, e, dtype=np.int64))
            for k, (s, e) in enumerate(zip(starts, ends, strict=True))]


def _check_span(n_buckets: int, split: int, first: int, last_target: int, longest: int,
                folds: int, min_train: int, bucket_s: int) -> None:
    span = last_target - first
    if longest > span:
        raise FlowcastUserError(
            f"the longest horizon ({longest} buckets = {_minutes(longest, bucket_s)}) is longer "
            f"than the test span ({max(span, 0)} buckets of {n_buckets}); use shorter "
            "--horizons or a larger --test-fraction")
    if span < folds:
        raise FlowcastUserError(f"{folds} folds do not fit in a test span of {span} buckets; "
                                "use fewer --folds")
    if split < min_train:
        raise FlowcastUserError(
            f"only {max(split, 0)} buckets before the test span, the model needs at least "
            f"{min_train}; use a smaller --test-fraction or a longer dataset")


def _minutes(steps: int, bucket_s: int) -> str:
    return f"{steps * bucket_s / 60:g} min"


# --------------------------------------------------------------------------------------------
# Rows of the predictions table
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grid:
    """The dataset's axes for building rows: sensor ``ids`` ``(N,)``, bucket start ``times``
    ``(T,)`` datetime64[ns] UTC, ``interval_s``, and the truth ``values`` ``(N, T)`` as the
    scoring sees it (zeros kept)."""

    ids: np.ndarray
    times: np.ndarray
    interval_s: int
    values: np.ndarray

    @classmethod
    def from_roads(cls, roads: xr.Dataset, target: str) -> Grid:
        """The grid of a road dataset for ``target``."""
        return cls(np.asarray(roads["sensor"].values).astype(str),
                   np.asarray(roads["time"].values).astype("datetime64[ns]"),
                   int(roads.attrs["interval_s"]),
                   np.asarray(roads[target].values, np.float32))


def forecast_rows(grid: Grid, sensor: np.ndarray, column: np.ndarray, horizons: Sequence[int],
                  y_pred: np.ndarray, model: str, *, p10: np.ndarray | None = None,
                  p90: np.ndarray | None = None, y_true: np.ndarray | None = None,
                  last_target: int | None = None) -> pd.DataFrame:
    """Long rows of forecasts ``y_pred`` ``(R, H)`` made at anchors (``sensor``, ``column``)
    ``(R,)``: one row per anchor and horizon whose target column is at most ``last_target``
    (default the last). ``y_true`` ``(R, H)`` defaults to the grid's values at the targets."""
    h = np.asarray(horizons, np.int64)
    t = len(grid.times)
    last = t - 1 if last_target is None else int(last_target)
    target = column[:, None].astype(np.int64) + h[None, :]
    keep = target <= last
    rows, steps = np.nonzero(keep)
    tgt = target[rows, steps]
    truth = (grid.values[sensor[rows], tgt] if y_true is None else y_true[rows, steps])
    step = np.timedelta64(grid.interval_s, "s")
    origin = grid.times[column[rows]] + step
    out = {
        "series": grid.ids[sensor[rows]],
        "origin": pd.to_datetime(origin).tz_localize("UTC"),
        "horizon_steps": h[steps],
        "target_time": pd.to_datetime(origin + h[steps] * step).tz_localize("UTC"),
        "y_true": truth.astype(np.float64),
        "y_pred": y_pred[rows, steps].astype(np.float64),
    }
    if p10 is not None and p90 is not None:
        out["p10"] = p10[rows, steps].astype(np.float64)
        out["p90"] = p90[rows, steps].astype(np.float64)
    out["model"] = model
    return pd.DataFrame(out)


def baseline_forecasts(values: np.ndarray, origins: np.ndarray, horizons: Sequence[int],
                       interval_s: int, sensors: np.ndarray | None = None,
                       ) -> dict[str, np.ndarray]:
    """Forecasts of every road baseline from ``values`` ``(N, T)`` (NaN = missing) at anchor
    columns ``origins`` ``(K,)``: ``{name: (S, K, H)}`` for the ``sensors`` (default all).
    Each reads only columns ``<= origin``."""
    sel = np.arange(values.shape[0]) if sensors is None else np.asarray(sensors)
    baselines = default_baselines(interval_s)
    per_day = 86_400 // interval_s
    length = max(max(b.lookback for b in baselines), PROFILE_DAYS * per_day + 1)
    h = np.asarray(horizons, np.int64)
    out = {b.name: np.empty((len(sel), len(origins), len(h)), np.float32) for b in baselines}
    out[PROFILE_PERSISTENCE] = np.empty((len(sel), len(origins), len(h)), np.float32)
    chunk = max(1, _CHUNK_VALUES // max(1, len(sel) * length))
    for lo in range(0, len(origins), chunk):
        part = origins[lo:lo + chunk]
        window = _windows(values, sel, part, length)  # (S, k, L)
        flat = window.reshape(-1, length)
        for b in baselines:
            out[b.name][:, lo:lo + chunk] = _predict(b, flat, h).reshape(len(sel), len(part), -1)
        out[PROFILE_PERSISTENCE][:, lo:lo + chunk] = _profile(flat, h, per_day).reshape(
            len(sel), len(part), -1)
    return out


def _windows(values: np.ndarray, sensors: np.ndarray, origins: np.ndarray,
             length: int) -> np.ndarray:
    """``(S, K, L)`` windows ending at each origin (inclusive), NaN before the data."""
    cols = origins[:, None] - length + 1 + np.arange(length)[None, :]
    got = values[sensors][:, np.clip(cols, 0, None)]
    return np.where(cols[None] >= 0, got, np.float32(np.nan))


def _predict(baseline: Forecaster, window: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    return baseline.predict(window[:, -baseline.lookback:], horizons)


def _profile(window: np.ndarray, horizons: np.ndarray, per_day: int) -> np.ndarray:
    """Profile-adjusted persistence from ``(R, L)`` windows (the last column is now)."""
    length = window.shape[1]
    last = LastValue().predict(window, horizons[:1])[:, 0]
    steps = np.concatenate([[0], horizons])
    past = np.full((len(window), PROFILE_DAYS, len(steps)), np.nan, np.float32)
    for k in range(1, PROFILE_DAYS + 1):
        cols = length - 1 - k * per_day + steps
        ok = (cols >= 0) & (cols <= length - 1)
        past[:, k - 1, ok] = window[:, cols[ok]]
    return profile_adjusted_persistence(last, past)  # NaN where there is no last value


def baseline_rows(grid: Grid, inputs: np.ndarray, origins: np.ndarray,
                  horizons: Sequence[int], *, sensors: np.ndarray | None = None,
                  last_target: int | None = None, y_true: np.ndarray | None = None,
                  ) -> pd.DataFrame:
    """Long rows of every baseline at ``origins`` for ``sensors`` (default all), reading
    ``inputs`` ``(N, T)`` (the values as the models see them: zeros NaN when they mean no
    data). ``y_true`` ``(S x K, H)`` in time-major order overrides the truth."""
    sel = np.arange(inputs.shape[0]) if sensors is None else np.asarray(sensors)
    forecasts = baseline_forecasts(inputs, origins, horizons, grid.interval_s, sel)
    sensor = np.tile(sel, len(origins))
    column = np.repeat(origins, len(sel))
    frames = [forecast_rows(grid, sensor, column, horizons,
                            f.transpose(1, 0, 2).reshape(len(column), -1), name,
                            y_true=y_true, last_target=last_target)
              for name, f in forecasts.items()]
    return pd.concat(frames, ignore_index=True)


def validation_predictions(grid: Grid, inputs: np.ndarray, validation: Validation,
                           horizons: Sequence[int], model: str = "lightgbm") -> pd.DataFrame:
    """The validation tail of a training run as a predictions table: the early-stopped model
    and every baseline at the same anchors, scored against the training targets (missing where
    training excluded them)."""
    cols = np.unique(validation.column)
    sensors = np.unique(validation.sensor)
    own = forecast_rows(grid, validation.sensor, validation.column, horizons,
                        validation.y_pred, model, p10=validation.p10, p90=validation.p90,
                        y_true=validation.y_true)
    truth = _reorder(validation, sensors, cols)
    base = baseline_rows(grid, inputs, cols.astype(np.int64), horizons, sensors=sensors,
                         y_true=truth)
    return validate_predictions(pd.concat([own, base], ignore_index=True))


def _reorder(validation: Validation, sensors: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The validation truths in (column, sensor) time-major order over ``cols`` x ``sensors``
    (NaN where an anchor is absent)."""
    out = np.full((len(cols) * len(sensors), validation.y_true.shape[1]), np.nan, np.float32)
    k = np.searchsorted(cols, validation.column) * len(sensors) + np.searchsorted(
        sensors, validation.sensor)
    out[k] = validation.y_true
    return out


# --------------------------------------------------------------------------------------------
# The backtest
# --------------------------------------------------------------------------------------------

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
    for fold in tqdm(plan, desc="backtest folds", unit="fold", disable=not progress):
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
    forecast = model.predict(build_rows(history, model.spec, sensor, column))
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
