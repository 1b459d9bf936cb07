"""The intra-day scenic-spot forecaster: direct multi-horizon LightGBM on saturation.

:class:`SpotForecaster` maps the feature rows of :mod:`flowcast.models.spots.features` to the
saturation (visitors ÷ instantaneous capacity) ``h`` buckets after each row's anchor, one
booster per horizon, with optional P10/P90 boosters (sorted per row, so never crossing).
Forecasts are clipped at 0. :meth:`SpotForecaster.predict_live` is the engine's step: the
spot ring's window -> one row per spot -> every horizon.

The model lives in the ``spots/`` subdirectory of a model directory::

    MODEL_DIR/spots/
      model.json        format "flowcast-spot-model", spec, horizons, training, metrics, version
      h004_mean.txt     LightGBM text model: mean saturation 4 buckets (60 min) ahead
      h004_p10.txt      P10 / P90 boosters (with intervals)
      h004_p90.txt ...

:func:`save_spot_model` writes it atomically (a hidden sibling renamed into place, as the road
model); :func:`load_spot_model` refuses, with a :class:`~flowcast.models.roads.artifact.ModelError`
naming the fix, anything it cannot serve: no directory or ``model.json``, corrupt JSON, another
format or a newer format version, an unknown feature spec, feature names that differ, a missing
or altered booster file, and a model of another bucket length or other horizons than the
caller's. No pickle anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from flowcast.formats.model_dir import (
    MODEL_FILE,
    ModelError,
    read_booster,
    read_model_doc,
    save_boosted_model,
)
from flowcast.models.roads.forecaster import widen_intervals
from flowcast.models.spots.features import (
    IssueBlock,
    SpotFeatureSpec,
    SpotSeries,
    target_block,
)

FORMAT = "flowcast-spot-model"
FORMAT_VERSION = 1
SPOTS_DIR = "spots"
MODEL_NAME = "lightgbm"
QUANTILES: tuple[float, float] = (0.1, 0.9)


@dataclass(frozen=True)
class SpotForecast:
    """Saturation forecasts of ``R`` rows for ``H`` horizons: ``y`` ``(R, H)`` float32 >= 0, and
    ``p10``/``p90`` ``(R, H)`` with ``p10 <= p90`` (None without quantile boosters)."""

    y: np.ndarray
    p10: np.ndarray | None = None
    p90: np.ndarray | None = None


@dataclass
class SpotForecaster:
    """LightGBM spot forecaster: ``boosters[h]`` predicts the saturation ``h`` buckets ahead
    (``spec.horizons``); ``quantile_boosters[h]`` = (P10, P90) boosters, or empty; ``info`` is
    the artifact's ``model.json`` (empty before saving)."""

    spec: SpotFeatureSpec
    boosters: dict[int, lgb.Booster]
    quantile_boosters: dict[int, tuple[lgb.Booster, lgb.Booster]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    name: str = MODEL_NAME
    # horizon (buckets) -> saturation margin added to each side of P10/P90 (calibration)
    interval_margin: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.boosters) != set(self.spec.horizons):
            raise ValueError("one booster per horizon of the spec is needed")
        if self.quantile_boosters and set(self.quantile_boosters) != set(self.spec.horizons):
            raise ValueError("quantile boosters must cover every horizon, or none")

    @property
    def horizons(self) -> tuple[int, ...]:
        """Horizons in buckets, ascending."""
        return self.spec.horizons

    @property
    def bucket_s(self) -> int:
        """Bucket length in seconds."""
        return self.spec.bucket_s

    @property
    def has_intervals(self) -> bool:
        """Whether P10/P90 boosters are present."""
        return bool(self.quantile_boosters)

    @property
    def version(self) -> str:
        """The artifact's version id ("unsaved" before :func:`save_spot_model`)."""
        return str(self.info.get("version", "unsaved"))

    @property
    def lookback(self) -> int:
        """Buckets of history a complete feature row reads (the anchor included)."""
        return self.spec.lookback

    def predict(self, series: SpotSeries, columns: np.ndarray, *, intervals: bool = True,
                threads: int = 0) -> SpotForecast:
        """Saturation forecasts for anchors ``columns`` of ``series``: rows ``i * K + k`` as
        :func:`~flowcast.models.spots.features.feature_matrix`, one column per horizon."""
        issue = IssueBlock.build(series, columns, self.spec)
        rows = len(issue.x)
        y = np.zeros((rows, len(self.horizons)), np.float32)
        want_q = intervals and self.has_intervals
        lo = np.zeros_like(y) if want_q else None
        hi = np.zeros_like(y) if want_q else None
        for j, h in enumerate(self.horizons):
            if not rows:
                break
            x = np.hstack([issue.x, target_block(issue, h)])
            y[:, j] = self.boosters[h].predict(x, num_threads=threads)
            if lo is not None and hi is not None:
                q10, q90 = self.quantile_boosters[h]
                lo[:, j] = q10.predict(x, num_threads=threads)
                hi[:, j] = q90.predict(x, num_threads=threads)
        np.maximum(y, 0.0, out=y)
        if lo is None or hi is None:
            return SpotForecast(y)
        margin = np.array([self.interval_margin.get(h, 0.0) for h in self.horizons], np.float32)
        lo, hi = widen_intervals(np.minimum(lo, hi), np.maximum(lo, hi), margin)
        return SpotForecast(y, np.maximum(lo, 0.0), np.maximum(hi, 0.0))

    def predict_live(self, window: Any, *, capacity: np.ndarray, opens_min: np.ndarray,
                     closes_min: np.ndarray, utc_offset_min: int, intervals: bool = True,
                     threads: int = 0) -> SpotForecast:
        """The engine's step: ``window`` is ``SpotState.window(anchor + 1, L)`` with
        ``L >= lookback``; returns ``(K, H)`` saturation forecasts for the window's last bucket,
        one row per spot in the window's order."""
        series = SpotSeries.from_window(window, bucket_s=self.bucket_s, capacity=capacity,
                                        opens_min=opens_min, closes_min=closes_min,
                                        utc_offset_min=utc_offset_min)
        return self.predict(series, np.array([series.n_buckets - 1]), intervals=intervals,
                            threads=threads)


def horizons_label(horizons: Sequence[int], bucket_s: int) -> str:
    """``"60,120,... min"`` of horizons in buckets."""
    return ",".join(f"{h * bucket_s / 60:g}" for h in horizons) + " min"


# --------------------------------------------------------------------------------------------
# The artifact
# --------------------------------------------------------------------------------------------

def spot_model_dir(model_dir: str | os.PathLike[str]) -> Path:
    """Where a model directory keeps its spot model: ``MODEL_DIR/spots``."""
    return Path(model_dir) / SPOTS_DIR


def save_spot_model(model: SpotForecaster, path: str | os.PathLike[str], *,
                    training: dict[str, Any] | None = None,
                    metrics: dict[str, Any] | None = None, overwrite: bool = True) -> Path:
    """Write ``model`` to the directory ``path`` (usually :func:`spot_model_dir`) atomically
    and return it; ``model.info`` becomes the written ``model.json``. ``training`` and
    ``metrics`` go in verbatim (JSON types). An existing ``path`` is replaced only with
    ``overwrite`` and only when it is empty or a model directory."""
    return save_boosted_model(model, Path(path), fmt=FORMAT, format_version=FORMAT_VERSION,
                              own={"target": "saturation"}, training=training,
                              metrics=metrics, overwrite=overwrite)


def read_spot_model_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``model.json`` of the spot model directory ``path``, its format and format version
    checked (:func:`load_spot_model` checks the rest)."""
    return read_model_doc(Path(path), FORMAT, FORMAT_VERSION, "spot model",
                          "train one with 'flowcast train DATASET --out MODEL_DIR' on a "
                          "dataset with spots")


def load_spot_model(path: str | os.PathLike[str], *, bucket_s: int | None = None,
                    horizons: Sequence[int] | None = None) -> SpotForecaster:
    """Load and check the spot model directory ``path`` (``MODEL_DIR/spots``).

    ``bucket_s`` and ``horizons`` (buckets): what the caller serves; a model for another
    bucket length or other horizons is refused with a :class:`ModelError` saying how to fix it.
    """
    path = Path(path)
    doc = read_spot_model_json(path)
    try:
        spec = SpotFeatureSpec.from_dict(doc["feature_spec"])
        files = doc["boosters"]
    except KeyError as err:
        raise ModelError(f"{path / MODEL_FILE} lacks {err.args[0]!r}; re-train the model") from None
    except (TypeError, ValueError) as err:
        raise ModelError(f"{path / MODEL_FILE}: unusable feature spec ({err}); re-train the "
                         "model") from None
    if doc.get("feature_names") != spec.names:
        raise ModelError(f"{path / MODEL_FILE}: its feature names differ from what this "
                         "flowcast builds; re-train the model")
    if bucket_s is not None and int(bucket_s) != spec.bucket_s:
        raise ModelError(f"spot model {path} was trained on {spec.bucket_s} s buckets, the "
                         f"engine uses {int(bucket_s)} s spot buckets; re-train it on data "
                         "like the engine's (time.spot_bucket_s)")
    if horizons is not None and tuple(int(h) for h in horizons) != spec.horizons:
        have = horizons_label(spec.horizons, spec.bucket_s)
        raise ModelError(f"spot model {path} forecasts {have} ahead, the engine asks for "
                         f"{horizons_label(horizons, spec.bucket_s)}; re-train with those "
                         "horizons or set engine.spot_horizons_min to the model's")
    n = spec.n_features
    boosters = {h: read_booster(path, files, h, "mean", n, "spot model")
                for h in spec.horizons}
    quantiles = {}
    if doc.get("quantiles"):
        quantiles = {h: (read_booster(path, files, h, "p10", n, "spot model"),
                         read_booster(path, files, h, "p90", n, "spot model"))
                     for h in spec.horizons}
    try:
        margins = {int(h): float(m) for h, m in doc.get("interval_margin", {}).items()}
    except (AttributeError, TypeError, ValueError) as err:
        raise ModelError(f"{path / MODEL_FILE}: unusable interval_margin ({err}); re-train the "
                         "model") from None
    return SpotForecaster(spec, boosters, quantiles, info=doc, interval_margin=margins)
