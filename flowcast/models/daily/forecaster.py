"""Daily arrivals of a scenic spot, days ahead: direct multi-horizon LightGBM.

One booster per horizon ``h`` (days), each trained on ``log1p(y[t + h]) - a(t)`` where ``a(t)``
is the 7-day mean of ``log1p`` arrivals up to the issue day ``t`` (see
:mod:`flowcast.models.daily.features` for every feature and why the target is relative).
Optional quantile boosters give P10/P90. Early stopping uses a time-ordered validation tail of
the training span; the booster is then refitted on the whole span with the rounds found.

A model is a directory: one LightGBM text model file per horizon and quantile, and
``model.json`` (feature list, horizons, training span, data hash, library versions, version
id, the files' SHA-256). Never pickle. :func:`load` refuses a directory whose format, feature
spec or files do not match this code.

The API::

    model = fit(series, horizons=range(1, 31))     # series: a daily series (daily_data)
    model.predict(series_up_to_t)                  # DataFrame: one row per horizon
    model.save("models/jiuzhaigou"); load("models/jiuzhaigou")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from flowcast.errors import FlowcastUserError
from flowcast.models.daily import features as dfe
from flowcast.models.daily.data import check_daily_series, data_hash

FORMAT = "flowcast-daily-arrivals/1"
MODEL_FILE = "model.json"
MODEL_NAME = "lightgbm"
DAY_S = 86_400
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_HORIZONS: tuple[int, ...] = tuple(range(1, 31))
PAPER_HORIZONS: tuple[int, ...] = (1, 3, 7, 15, 30)
MIN_TRAIN_ROWS = 30
QUANTILES = {"p10": 0.1, "p90": 0.9}


class DailyModelError(FlowcastUserError):
    """A daily-arrivals model that cannot be trained, loaded or used as asked."""


@dataclass(frozen=True)
class DailyConfig:
    """Training settings. ``intervals``: also train P10 and P90 quantile boosters;
    ``val_days``: the validation tail (days of origins) for early stopping; ``params`` override
    LightGBM's."""

    intervals: bool = True
    val_days: int = 42
    max_rounds: int = 600
    early_stopping: int = 50
    min_rounds: int = 30
    half_life_days: float | None = None
    seed: int = 7
    params: dict[str, Any] = field(default_factory=dict)

    def lgb_params(self, objective: str, alpha: float | None = None) -> dict[str, Any]:
        """LightGBM parameters for one booster (small, regularised trees: a spot has a few
        hundred training days)."""
        params: dict[str, Any] = {
            "objective": objective, "learning_rate": 0.03, "num_leaves": 15,
            "min_data_in_leaf": 15, "feature_fraction": 0.8, "bagging_fraction": 0.8,
            "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 63, "verbose": -1,
            "seed": self.seed, "deterministic": True, "force_row_wise": True, "num_threads": 1,
        }
        if alpha is not None:
            params["alpha"] = alpha
        return {**params, **self.params}


@dataclass
class DailyArrivalsModel:
    """A trained daily-arrivals forecaster: boosters per horizon (and quantile) plus metadata.

    ``boosters[h]`` maps ``"point"`` and ``"p10"``/``"p90"`` (when trained) to a LightGBM
    booster for horizon ``h`` days. ``meta`` is what ``model.json`` holds.
    """

    boosters: dict[int, dict[str, lgb.Booster]]
    meta: dict[str, Any]

    @property
    def horizons(self) -> tuple[int, ...]:
        """The horizons (days) this model forecasts."""
        return tuple(sorted(self.boosters))

    @property
    def version(self) -> str:
        """The model's version id."""
        return str(self.meta["version"])

    def predict(self, series: pd.Series, horizons: Iterable[int] | None = None) -> pd.DataFrame:
        """Forecast issued at the end of the series' last day, for ``horizons`` days ahead
        (default: all the model's).

        Returns one row per horizon in the predictions table's columns ``series, origin,
        horizon_steps, target_time, y_true, y_pred, p10, p90, model``: visitors per day
        (``y_true`` NaN: not known yet; p10/p90 NaN without quantile boosters); times are the
        local midnight starting each day, in UTC. Raises :class:`DailyModelError` when the series
        is another spot's or has no count in its last 7 days.
        """
        series = check_daily_series(series)
        trained_for = self.meta.get("series")
        if series.name is not None and trained_for is not None and str(series.name) != trained_for:
            raise DailyModelError(f"this model was trained for spot {trained_for!r}, not "
                                  f"{series.name!r}; load that spot's model")
        if series.iloc[-dfe.ANCHOR_DAYS:].isna().all():
            raise DailyModelError(f"no count in the {dfe.ANCHOR_DAYS} days up to "
                                  f"{series.index[-1].date()}; a forecast needs recent data")
        rows = predict_at(self, series, np.array([len(series) - 1]), horizons)
        return rows.reset_index(drop=True)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the model directory (created if needed): LightGBM text files and
        ``model.json``. Returns the directory."""
        out = Path(directory)
        if out.exists() and not out.is_dir():
            raise DailyModelError(f"{out} exists and is not a directory; choose another path")
        out.mkdir(parents=True, exist_ok=True)
        for h, kinds in self.boosters.items():
            for kind, booster in kinds.items():
                text = booster.model_to_string()
                if _text_sha256(text) != self.meta["files"][_file_name(h, kind)]:
                    raise DailyModelError(f"booster {_file_name(h, kind)} changed after "
                                          "training; fit the model again")
                _write_atomic(out / _file_name(h, kind), text)
        _write_atomic(out / MODEL_FILE, json.dumps(self.meta, indent=1))  # last: the commit
        return out


# --- training ----------------------------------------------------------------------------------

def fit(series: pd.Series, horizons: Iterable[int] = DEFAULT_HORIZONS,
        config: DailyConfig | None = None, *, train_end: pd.Timestamp | str | None = None,
        timezone: str = DEFAULT_TIMEZONE) -> DailyArrivalsModel:
    """Train one booster per horizon (days) on ``series`` up to ``train_end`` (a date,
    inclusive; default the last day). Only days ``<= train_end`` are read: every target of the
    training rows lies on or before it. Raises :class:`DailyModelError` for bad horizons or too
    little data."""
    config = config or DailyConfig()
    series = check_daily_series(series)
    horizons = check_horizons(horizons)
    if train_end is not None:
        series = series.loc[: pd.Timestamp(train_end)]
    if len(series) < MIN_TRAIN_ROWS:
        raise DailyModelError(f"training needs at least {MIN_TRAIN_ROWS} days; the series has "
                              f"{len(series)} up to {train_end or 'its end'}")
    history = dfe.History(series.to_numpy())
    calendar = dfe.calendar_for(series.index, max(horizons))
    boosters: dict[int, dict[str, lgb.Booster]] = {}
    info: dict[str, Any] = {}
    for h in horizons:
        X, z, origins = dfe.training_rows(history, calendar, series.index[0], h, len(series) - 1)
        if len(z) < MIN_TRAIN_ROWS:
            raise DailyModelError(f"horizon {h} d has {len(z)} training rows (needs "
                                  f"{MIN_TRAIN_ROWS}); use shorter horizons or more history")
        boosters[h], info[str(h)] = _fit_horizon(X, z, origins, h, config)
    meta = _meta(series, horizons, config, info, timezone)
    meta["files"] = {_file_name(h, kind): _text_sha256(b.model_to_string())
                     for h, kinds in boosters.items() for kind, b in kinds.items()}
    meta["version"] = _version_id(meta)
    return DailyArrivalsModel(boosters, meta)


def _fit_horizon(X: np.ndarray, z: np.ndarray, origins: np.ndarray, horizon: int,
                 config: DailyConfig) -> tuple[dict[str, lgb.Booster], dict[str, Any]]:
    """The point booster (and quantile boosters) of one horizon, with their rounds."""
    kinds = {"point": ("regression", None)}
    if config.intervals:
        kinds.update({name: ("quantile", q) for name, q in QUANTILES.items()})
    out: dict[str, lgb.Booster] = {}
    rounds: dict[str, int] = {}
    for kind, (objective, alpha) in kinds.items():
        params = config.lgb_params(objective, alpha)
        rounds[kind] = _best_rounds(X, z, origins, horizon, params, config)
        weight = _weights(origins, config.half_life_days)
        out[kind] = lgb.train(params, _dataset(X, z, weight), num_boost_round=rounds[kind])
    return out, {"rows": len(z), "rounds": rounds}


def _best_rounds(X: np.ndarray, z: np.ndarray, origins: np.ndarray, horizon: int,
                 params: dict[str, Any], config: DailyConfig) -> int:
    """Rounds chosen by early stopping on the last ``val_days`` origins; the fitting part
    keeps only rows whose target is known at the first validation origin."""
    cut = origins[-1] - config.val_days + 1
    val = origins >= cut
    train = origins + horizon <= cut
    if val.sum() < 7 or train.sum() < MIN_TRAIN_ROWS:
        return config.min_rounds
    weight = _weights(origins[train], config.half_life_days)
    booster = lgb.train(params, _dataset(X[train], z[train], weight),
                        num_boost_round=config.max_rounds,
                        valid_sets=[_dataset(X[val], z[val])],
                        callbacks=[lgb.early_stopping(config.early_stopping, verbose=False)])
    return max(config.min_rounds, int(booster.best_iteration or config.max_rounds))


def _dataset(X: np.ndarray, z: np.ndarray, weight: np.ndarray | None = None) -> lgb.Dataset:
    return lgb.Dataset(X, z, weight=weight, feature_name=list(dfe.FEATURES),
                       free_raw_data=True, params={"verbose": -1, "max_bin": 63})


def _weights(origins: np.ndarray, half_life: float | None) -> np.ndarray | None:
    """Row weights halving every ``half_life`` days back from the newest origin (None: equal)."""
    if half_life is None or not len(origins):
        return None
    return np.power(0.5, (origins[-1] - origins) / half_life)


# --- forecasting -------------------------------------------------------------------------------

def predict_at(model: DailyArrivalsModel, series: pd.Series, origins: np.ndarray,
               horizons: Iterable[int] | None = None) -> pd.DataFrame:
    """Forecasts issued at day indices ``origins`` of a clean daily series, for ``horizons``
    (default all the model's); features read only days ``<= origin``. Long format as
    :meth:`DailyArrivalsModel.predict`, plus ``y_true`` where the target day is in the series
    (NaN after its end). Used by the backtest: one call per horizon for all origins."""
    horizons = model.horizons if horizons is None else check_horizons(horizons)
    missing = sorted(set(horizons) - set(model.horizons))
    if missing:
        raise DailyModelError(f"the model has no booster for horizon(s) {missing} d; it was "
                              f"trained for {list(model.horizons)}")
    origins = np.asarray(origins, dtype=np.int64)
    history = dfe.History(series.to_numpy())
    calendar = dfe.calendar_for(series.index, max(horizons))
    frames = []
    for h in horizons:
        X, anchor = dfe.feature_matrix(history, calendar, series.index[0], origins, h)
        out = {kind: _back(booster.predict(X), anchor)
               for kind, booster in model.boosters[h].items()}
        frames.append(forecast_rows(series, origins, h, out, str(model.meta["timezone"])))
    return pd.concat(frames, ignore_index=True)


def _back(z: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Visitors per day from a log-ratio to the anchor (>= 0; NaN where no anchor)."""
    return np.maximum(np.expm1(z + anchor), 0.0)


def forecast_rows(series: pd.Series, origins: np.ndarray, horizon: int,
                  out: dict[str, np.ndarray], timezone: str) -> pd.DataFrame:
    """Long-format rows of one horizon from forecasts in visitors per day: ``out["point"]``
    of shape ``(len(origins),)``, and optionally ``out["p10"]``, ``out["p90"]``. The bounds are
    made non-crossing by sorting: ``p10 = min(p10, p90, point)``, ``p90 = max(...)``. ``y_true``
    is the series' value on the target day (NaN past its end)."""
    point = out["point"]
    lo, hi = out.get("p10"), out.get("p90")
    if lo is None or hi is None:
        lo = hi = np.full_like(point, np.nan)
    else:
        lo, hi = np.minimum(np.minimum(lo, hi), point), np.maximum(np.maximum(lo, hi), point)
    targets = origins + horizon
    values = series.to_numpy()
    truth = np.where(targets < len(values), values[np.minimum(targets, len(values) - 1)], np.nan)
    return pd.DataFrame({
        "series": str(series.name if series.name is not None else "spot"),
        "origin": day_times(series.index[0], origins, timezone),
        "horizon_steps": np.full(len(origins), horizon, dtype=np.int64),
        "target_time": day_times(series.index[0], targets, timezone),
        "y_true": truth, "y_pred": point, "p10": lo, "p90": hi, "model": MODEL_NAME,
    })


def day_times(day0: pd.Timestamp, index: np.ndarray, timezone: str) -> pd.DatetimeIndex:
    """UTC timestamps of the local midnights starting days ``day0 + index`` (a day is labelled
    by its start, as every bucket in flowcast)."""
    local = pd.DatetimeIndex(day0 + pd.to_timedelta(np.asarray(index), unit="D"))
    return local.tz_localize(timezone).tz_convert("UTC")


# --- saving and loading ------------------------------------------------------------------------

def load(directory: str | os.PathLike[str]) -> DailyArrivalsModel:
    """Read a model directory written by :meth:`DailyArrivalsModel.save`.

    Refuses (:class:`DailyModelError`, saying what to do) a missing directory or
    ``model.json``, another format, a feature list or feature spec version that differs from
    this code's, a LightGBM major version other than the installed one, and a model file that is
    missing or whose SHA-256 differs from ``model.json``.
    """
    root = Path(directory)
    path = root / MODEL_FILE
    if not path.is_file():
        raise DailyModelError(f"{root} holds no {MODEL_FILE}; give a directory written by "
                              "DailyArrivalsModel.save")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DailyModelError(f"{path} is not valid JSON ({err}); retrain the model") from err
    check_compatible(meta, root)
    boosters: dict[int, dict[str, lgb.Booster]] = {}
    for h in meta["horizons"]:
        kinds = ["point", *meta["quantiles"]]
        boosters[int(h)] = {k: lgb.Booster(model_file=str(root / _file_name(int(h), k)))
                            for k in kinds}
    return DailyArrivalsModel(boosters, meta)


def check_compatible(meta: dict[str, Any], root: Path) -> None:
    """Raise :class:`DailyModelError` unless ``meta`` (a ``model.json``) was written by a
    compatible flowcast and its files in ``root`` are intact."""
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise DailyModelError(f"{root} is a {fmt!r} model; this flowcast reads {FORMAT!r}: "
                              "retrain it with this version")
    spec = meta.get("feature_spec_version")
    if spec != dfe.FEATURE_SPEC_VERSION or list(meta.get("features", [])) != list(dfe.FEATURES):
        raise DailyModelError(
            f"{root} was trained with another feature spec (version {spec}, "
            f"{len(meta.get('features', []))} features); this flowcast builds version "
            f"{dfe.FEATURE_SPEC_VERSION} with {len(dfe.FEATURES)}: retrain the model")
    trained = str(meta.get("library_versions", {}).get("lightgbm", "?")).split(".")[0]
    if trained != lgb.__version__.split(".")[0]:
        raise DailyModelError(f"{root} was trained with LightGBM {trained}.x; this is "
                              f"{lgb.__version__}: retrain the model")
    _check_files(meta, root)


def _check_files(meta: dict[str, Any], root: Path) -> None:
    """Every booster file named by the horizons and quantiles exists with its recorded hash."""
    files = meta.get("files", {})
    for h in meta.get("horizons", []):
        for kind in ["point", *meta.get("quantiles", [])]:
            name = _file_name(int(h), kind)
            if name not in files or not (root / name).is_file():
                raise DailyModelError(f"{root} lacks {name} (horizon {h} d, {kind}); the "
                                      "directory is incomplete: save the model again")
            if _sha256(root / name) != files[name]:
                raise DailyModelError(f"{root / name} differs from the file the model was "
                                      "saved with (SHA-256 mismatch); save the model again")


# --- metadata ----------------------------------------------------------------------------------

def _meta(series: pd.Series, horizons: Sequence[int], config: DailyConfig,
          info: dict[str, Any], timezone: str) -> dict[str, Any]:
    """The ``model.json`` content (without files and version, added on save)."""
    return {
        "format": FORMAT,
        "kind": "daily_arrivals",
        "version": None,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "series": str(series.name if series.name is not None else "spot"),
        "target": "arrivals (visitors per local day)",
        "target_transform": "log1p(y[t+h]) - mean(log1p(y[t-6..t])); back: expm1",
        "interval_s": DAY_S,
        "timezone": timezone,
        "horizons": list(horizons),
        "quantiles": list(QUANTILES) if config.intervals else [],
        "features": list(dfe.FEATURES),
        "feature_spec_version": dfe.FEATURE_SPEC_VERSION,
        "training_span": {"first_day": str(series.index[0].date()),
                          "last_day": str(series.index[-1].date()), "days": len(series),
                          "days_with_count": int(series.notna().sum())},
        "data_hash": data_hash(series),
        "library_versions": {"lightgbm": lgb.__version__, "numpy": np.__version__,
                             "pandas": pd.__version__, "python": platform.python_version()},
        "config": asdict(config),
        "params": config.lgb_params("regression"),
        "per_horizon": info,
        "metrics": {},
    }


def _version_id(meta: dict[str, Any]) -> str:
    """A content id: the data hash and the booster files' hashes (same training, same id)."""
    digest = hashlib.sha256(meta["data_hash"].encode())
    for name in sorted(meta["files"]):
        digest.update(f"{name}={meta['files'][name]}".encode())
    return f"daily-{digest.hexdigest()[:12]}"


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_name(horizon: int, kind: str) -> str:
    return f"h{horizon:03d}_{kind}.txt"


def check_horizons(horizons: Iterable[int]) -> tuple[int, ...]:
    """Sorted distinct horizons in days (each an integer 1..366); a
    :class:`DailyModelError` otherwise."""
    try:
        values = sorted({int(h) for h in horizons})
    except (TypeError, ValueError) as err:
        raise DailyModelError(f"horizons must be whole days, e.g. 1,3,7 ({err})") from err
    if not values or values[0] < 1 or values[-1] > 366:
        raise DailyModelError(f"horizons must be days between 1 and 366; got {values}")
    return tuple(values)
