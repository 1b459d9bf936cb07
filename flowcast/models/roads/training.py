"""Training a :class:`~flowcast.models.roads.forecaster.RoadForecaster` from a history.

The rules (``docs/models.md``):

- **The history the engine serves.** :func:`road_history` runs the dataset through the engine's
  quality flags and imputation (:mod:`flowcast.models.roads.quality_history`): the features a model
  learns from are those it is served live (imputed inputs, ``flag_*`` columns), while targets
  are the measured values the quality rules accept. ``raw=True`` reads the dataset as stored.
- **Only the past.** :func:`train_road_model` takes ``end``, the first bucket column it may not
  read; the history is cut there before any row is built, so neither a feature nor a target can
  come from ``end`` on. The backtest passes its fold's first origin + 1.
- **Missing targets are never learnt.** A row is used for horizon ``h`` only when its target
  ``h`` buckets ahead is a measurement: not NaN, not imputed, inside the cut history
  (:func:`~flowcast.models.roads.matrices.targets`), and, with ``zero_is_missing``, not an exact 0.
  With ``zero_is_missing`` the zeros are "no data" everywhere: they are NaN in the features
  too (:func:`road_history`), so a zero is neither a target nor an input. Rows whose features
  are missing are kept (LightGBM routes NaN).
- **Time-ordered validation tail.** The last ``validation_fraction`` of the anchor columns whose
  longest-horizon target is in the history, and every later anchor, is the validation tail;
  the boosters fit the rows whose target lies before the tail, with early stopping on the tail.
  With ``refit`` (default) each booster is then retrained on every row, the tail included, for
  ``best_iteration x rows_all / rows_fit`` rounds (at most ``max_rounds``); validation figures
  always come from the early-stopped boosters, which never saw the tail.
- **Sampling.** ``stride`` keeps every ``stride``-th anchor column, ``max_sensors`` a seeded
  random subset of sensors: the matrix is ``rows x F x 4`` bytes, so a 10k-sensor month needs
  both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np

from flowcast.city import City
from flowcast.kernels.quality_params import DEFAULT_CAPACITY_VPHPL, QualityParams
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec, categorical_features
from flowcast.models.roads.forecaster import (
    QUANTILES,
    RoadForecaster,
    conformal_margins,
    prepare_values,
)
from flowcast.models.roads.matrices import Anchors, training_matrix
from flowcast.models.roads.quality_history import cleaned_history
from flowcast.progress import progress_bar

if TYPE_CHECKING:
    import xarray as xr

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "l2",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "verbose": -1,
}
"""LightGBM parameters of the mean boosters (quantile boosters change the objective)."""
QUANTILE_RATE = 0.1
"""The smallest learning rate of the P10/P90 boosters."""
# the P10..P90 interval's nominal coverage, which calibration on the validation tail targets
INTERVAL_COVERAGE = QUANTILES[1] - QUANTILES[0]


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``horizons`` in buckets. ``params``: LightGBM parameters over
    :data:`DEFAULT_PARAMS`. ``max_rounds``/``early_stopping``: boosting rounds and patience.
    ``threads``: LightGBM threads (0 = its default). ``seed`` drives bagging and the sensor
    sample."""

    horizons: tuple[int, ...] = (1, 2, 3, 4)
    params: dict[str, Any] = field(default_factory=dict)
    quantiles: bool = True
    zero_is_missing: bool = False
    validation_fraction: float = 0.1
    early_stopping: int = 50
    max_rounds: int = 2000
    refit: bool = True
    stride: int = 1
    max_sensors: int | None = None
    threads: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "horizons", tuple(int(h) for h in self.horizons))
        if not self.horizons or min(self.horizons) < 1:
            raise ValueError(f"horizons must be whole buckets >= 1, got {self.horizons}")
        if not 0 < self.validation_fraction < 0.5:
            raise ValueError("validation_fraction must be in (0, 0.5)")
        if self.stride < 1 or (self.max_sensors is not None and self.max_sensors < 1):
            raise ValueError("stride and max_sensors must be >= 1")

    def lgb_params(self, objective: str = "l2", alpha: float | None = None) -> dict[str, Any]:
        """The LightGBM parameters of one booster (``objective`` ``l2`` or ``quantile``)."""
        out = {**DEFAULT_PARAMS, **self.params, "seed": self.seed, "num_threads": self.threads}
        if objective == "quantile":
            # intervals need less precision than the mean: a faster rate, fewer rounds
            out.update(objective="quantile", alpha=alpha, metric="quantile",
                       learning_rate=max(QUANTILE_RATE, float(out["learning_rate"])))
        else:
            out.setdefault("metric", "l2")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON of every setting (``params`` merged over the defaults)."""
        return {"horizons_steps": list(self.horizons), "params": self.lgb_params(),
                "quantiles": self.quantiles, "zero_is_missing": self.zero_is_missing,
                "validation_fraction": self.validation_fraction,
                "early_stopping": self.early_stopping, "max_rounds": self.max_rounds,
                "refit": self.refit, "stride": self.stride, "max_sensors": self.max_sensors,
                "threads": self.threads, "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config of :meth:`to_dict` (unknown keys refused with a ``ValueError``)."""
        known = {"horizons_steps", "params", "quantiles", "zero_is_missing",
                 "validation_fraction", "early_stopping", "max_rounds", "refit", "stride",
                 "max_sensors", "threads", "seed"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training setting {unknown[0]!r}")
        kwargs = {k: v for k, v in data.items() if k != "horizons_steps"}
        params = {k: v for k, v in dict(kwargs.pop("params", {})).items()
                  if k not in ("seed", "num_threads")}
        return cls(horizons=tuple(data.get("horizons_steps", (1, 2, 3, 4))), params=params,
                   **kwargs)


@dataclass
class Validation:
    """The validation tail, scored by the early-stopped boosters: anchors ``sensor``,
    ``column`` ``(R,)`` into the training history; ``y_true``, ``y_pred``, ``p10``, ``p90``
    ``(R, H)`` (NaN truth = not a measurement; p10/p90 None without quantiles)."""

    sensor: np.ndarray
    column: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    p10: np.ndarray | None = None
    p90: np.ndarray | None = None


@dataclass
class TrainResult:
    """A trained model and how it was trained: ``end`` (columns ``< end`` were read),
    ``rows[h]`` training rows and ``best_iteration[h]`` of the mean booster per horizon,
    ``validation`` (the tail, for comparing with the baselines)."""

    model: RoadForecaster
    config: TrainConfig
    end: int
    rows: dict[int, int]
    best_iteration: dict[int, int]
    validation: Validation


def road_history(roads: xr.Dataset, *, target: str = "speed", zero_is_missing: bool = False,
                 raw: bool = False, city: City | None = None,
                 quality: QualityParams | None = None) -> FeatureHistory:
    """The dataset's road series as the :class:`FeatureHistory` a model reads.

    By default the history a model is served: the dataset run through the engine's quality
    flags and imputation (:func:`~flowcast.models.roads.quality_history.cleaned_history`,
    ``quality``
    its rules), so features see imputed inputs and the engine's flags exactly as live; targets
    are the measured values the quality rules accept (``measured``; a stuck detector's value
    is not learnt). With ``raw`` the dataset as stored (NaN = no
    data, no flags but ``no_data``, nothing imputed). ``city`` (optional) supplies static
    attributes, the graph and lane capacities the dataset lacks.

    With ``zero_is_missing``, exact-zero ``target`` values are "no data" for the model: NaN in
    the features (after the quality rules, which see the zeros the engine receives, as
    :func:`~flowcast.models.roads.forecaster.live_rows` does live) and never targets. Raw histories
    get them NaN before anything, so their ``no_data`` flag shows them too.
    """
    if raw:
        if zero_is_missing and target in roads.data_vars:
            roads = roads.copy()
            roads[target] = roads[target].copy(data=prepare_values(roads[target].values, True))
        return FeatureHistory.from_dataset(roads, city)
    base = FeatureHistory.from_dataset(roads, city)
    history = cleaned_history(base, quality=quality, capacity_vphpl=_capacities(base, city))
    if zero_is_missing and target in history.values:
        history.values[target] = prepare_values(history.values[target], True)
        measured = dict(history.measured or {})
        if target in measured:
            measured[target] = prepare_values(measured[target], True)
        history = replace(history, measured=measured)
    return history


def history_note(raw: bool) -> str:
    """How a model's input history was built (``model.json``, backtest reports)."""
    return ("raw: the dataset as stored" if raw else
            "engine: the dataset through the engine's quality flags and imputation")


def _capacities(history: FeatureHistory, city: City | None) -> np.ndarray | None:
    """Lane capacity (vehicles per hour per lane) of each sensor from ``city`` (the engine's
    default where the city does not know the sensor; None without a city)."""
    if city is None or history.sensor_ids is None:
        return None
    idx = city.sensor_index(np.asarray(history.sensor_ids).astype(str))
    known = idx >= 0
    out = np.full(len(idx), DEFAULT_CAPACITY_VPHPL, np.float32)
    out[known] = city.segment_capacity_vphpl[city.sensor_segment[idx[known]]]
    return out


def history_until(history: FeatureHistory, end: int) -> FeatureHistory:
    """The first ``end`` bucket columns of a contiguous history (views, no copy)."""
    end = max(0, min(int(end), history.n_buckets))
    measured = (None if history.measured is None else
                {k: v[:, :end] for k, v in history.measured.items()})
    return replace(history, values={k: v[:, :end] for k, v in history.values.items()},
                   flags=history.flags[:, :end], imputed=history.imputed[:, :end],
                   buckets=history.buckets[:end], measured=measured)


def data_hash(roads: xr.Dataset) -> str:
    """``sha256:<hex>`` of a road dataset's content: sensor ids, times, interval and every road
    variable's values (float32 bytes). Two datasets with the same hash hold the same series."""
    digest = hashlib.sha256()
    digest.update(np.asarray(roads["sensor"].values).astype(str).astype("U").tobytes())
    digest.update(np.asarray(roads["time"].values).astype("datetime64[ns]").tobytes())
    digest.update(str(int(roads.attrs.get("interval_s", 0))).encode())
    for name in sorted(v for v in ("speed", "flow", "occupancy") if v in roads.data_vars):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(roads[name].values, np.float32).tobytes())
    return "sha256:" + digest.hexdigest()


def sample_sensors(n_sensors: int, max_sensors: int | None, seed: int) -> np.ndarray | None:
    """A sorted seeded random subset of ``max_sensors`` sensor indices (None = all)."""
    if max_sensors is None or max_sensors >= n_sensors:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_sensors, size=max_sensors, replace=False)).astype(np.int32)


def train_road_model(history: FeatureHistory, spec: FeatureSpec, config: TrainConfig, *,
                     end: int | None = None, progress: bool = True) -> TrainResult:
    """Train one mean booster per horizon (and P10/P90 boosters with ``config.quantiles``)
    on the columns ``< end`` of ``history`` (default all).

    ``history``: from :func:`road_history` (zeros already NaN when the config says so).
    ``spec.bucket_s`` must be the history's. Raises ``ValueError`` when there are too few
    rows to fit and validate a horizon. A progress bar counts the boosters on a terminal when
    ``progress``.
    """
    end = history.n_buckets if end is None else int(end)
    past = history_until(history, end)
    sensors = sample_sensors(past.n_sensors, config.max_sensors, config.seed)
    x, y, anchors = training_matrix(past, spec, config.horizons, stride=config.stride,
                                    sensors=sensors)
    if config.zero_is_missing:
        y = prepare_values(y, True)
    cut = _validation_cut(anchors, config.validation_fraction, past.n_buckets - max(
        config.horizons))
    sets = {h: _row_sets(anchors, y[:, j], h, cut) for j, h in enumerate(config.horizons)}
    rows = {h: int(s.all.sum()) for h, s in sets.items()}
    kinds = [("mean", None)] + ([("quantile", q) for q in QUANTILES] if config.quantiles else [])
    bar = progress_bar(total=len(config.horizons) * len(kinds), desc="training boosters",
                       unit="booster", enabled=progress, leave=False)
    fitted: dict[str, dict[int, lgb.Booster]] = {"mean": {}, "p10": {}, "p90": {}}
    early: dict[str, dict[int, lgb.Booster]] = {"mean": {}, "p10": {}, "p90": {}}
    best = {}
    with bar:
        for j, h in enumerate(config.horizons):
            for kind, alpha in kinds:
                key = "mean" if alpha is None else f"p{round(alpha * 100)}"
                bar.set_postfix_str(f"{h} steps, {key}")
                early[key][h], fitted[key][h] = _fit(x, y[:, j], sets[h], spec, config, kind,
                                                     alpha)
                if key == "mean":
                    best[h] = early[key][h].best_iteration or early[key][h].current_iteration()
                bar.update()
    model = _forecaster(spec, config, fitted)
    checked = _forecaster(spec, config, early)
    validation = _validation(checked, x, y, anchors, cut, config.threads)
    if config.quantiles and validation.p10 is not None and validation.p90 is not None:
        # calibrate on the tail the early-stopped boosters never fitted; the refit model and
        # the validation scores then carry the same margins
        margins = conformal_margins(validation.y_true, validation.p10, validation.p90,
                                    config.horizons, INTERVAL_COVERAGE)
        model.interval_margin = checked.interval_margin = margins
        validation = _validation(checked, x, y, anchors, cut, config.threads)
    return TrainResult(model, config, end, rows, best, validation)


def _validation_cut(anchors: Anchors, fraction: float, stop: int) -> int:
    """The first anchor column of the validation tail: the last ``fraction`` of the distinct
    anchor columns below ``stop`` (those whose longest-horizon target is in the history; at
    least one)."""
    cols = np.unique(anchors.column)
    cols = cols[cols < stop]
    if len(cols) < 4:
        raise ValueError(f"only {len(cols)} anchor time(s) to train on; the model needs more "
                         "history before the forecast origin")
    k = max(1, round(len(cols) * fraction))
    return int(cols[len(cols) - k])


@dataclass
class _Rows:
    fit: np.ndarray
    val: np.ndarray
    all: np.ndarray


def _row_sets(anchors: Anchors, y: np.ndarray, h: int, cut: int) -> _Rows:
    """Boolean row masks for one horizon: fit (target before the tail), val (anchor in the
    tail), all (every row with a target)."""
    known = ~np.isnan(y)
    col = anchors.column.astype(np.int64)
    sets = _Rows(known & (col + h < cut), known & (col >= cut), known)
    if sets.fit.sum() < 10 or sets.val.sum() < 1:
        raise ValueError(f"too few rows with a known target {h} buckets ahead to fit and "
                         f"validate ({int(sets.fit.sum())} to fit, {int(sets.val.sum())} to "
                         "validate); use a longer history or shorter horizons")
    return sets


def _fit(x: np.ndarray, y: np.ndarray, sets: _Rows, spec: FeatureSpec, config: TrainConfig,
         kind: str, alpha: float | None) -> tuple[lgb.Booster, lgb.Booster]:
    """(early-stopped booster on the fit rows, the one to keep: refit on all rows or the same)."""
    params = config.lgb_params(kind, alpha)
    names, cats = spec.names, categorical_features(spec)

    def data(mask: np.ndarray, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        return lgb.Dataset(x[mask], y[mask], feature_name=names, categorical_feature=cats,
                           reference=reference, params={"max_bin": params["max_bin"],
                                                        "verbose": -1})

    train = data(sets.fit)
    booster = lgb.train(params, train, num_boost_round=config.max_rounds,
                        valid_sets=[data(sets.val, train)],
                        callbacks=[lgb.early_stopping(config.early_stopping, verbose=False)])
    booster.free_dataset()
    if not config.refit:
        return booster, booster
    rounds = max(1, min(config.max_rounds, round(
        (booster.best_iteration or booster.current_iteration()) * sets.all.sum()
        / sets.fit.sum())))
    final = lgb.train(params, data(sets.all), num_boost_round=rounds)
    final.free_dataset()
    return booster, final


def _forecaster(spec: FeatureSpec, config: TrainConfig,
                boosters: dict[str, dict[int, lgb.Booster]]) -> RoadForecaster:
    quantile = ({h: (boosters["p10"][h], boosters["p90"][h]) for h in config.horizons}
                if config.quantiles else {})
    return RoadForecaster(spec, config.horizons, dict(boosters["mean"]), quantile,
                          zero_is_missing=config.zero_is_missing)


def _validation(model: RoadForecaster, x: np.ndarray, y: np.ndarray, anchors: Anchors,
                cut: int, threads: int) -> Validation:
    tail = anchors.column >= cut
    forecast = model.predict_rows(x[tail], threads=threads)
    return Validation(anchors.sensor[tail], anchors.column[tail], y[tail], forecast.y,
                      forecast.p10, forecast.p90)


def training_span(history: FeatureHistory, end: int) -> tuple[int, int]:
    """Bucket ids of the first and last column a model trained with ``end`` read."""
    end = max(1, min(int(end), history.n_buckets))
    return int(history.buckets[0]), int(history.buckets[end - 1])

