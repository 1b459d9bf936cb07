"""The intra-day scenic-spot forecaster: direct multi-horizon LightGBM on saturation.

:class:`SpotForecaster` maps the feature rows of :mod:`flowcast.models.spots.features` to the
saturation (visitors ÷ instantaneous capacity) ``h`` buckets after each row's anchor, one
booster per horizon, with optional P10/P90 boosters (sorted per row, so never crossing).
Forecasts are clipped at 0. It meets :class:`~flowcast.models.forecaster.Forecaster` with a
:class:`~flowcast.models.spots.features.SpotSeries` window (the engine's:
``SpotSeries.from_window`` of the spot ring): :meth:`SpotForecaster.predict` forecasts every spot
at the window's last bucket; :meth:`SpotForecaster.predict_at` at any anchors of a series.

The artifact (``MODEL_DIR/spots``) is :mod:`flowcast.models.spots.artifact`. No pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from flowcast.models.forecaster import Forecast, horizon_columns, select_horizons
from flowcast.models.roads.forecaster import widen_intervals
from flowcast.models.spots.features import (
    IssueBlock,
    SpotFeatureSpec,
    SpotSeries,
    target_block,
)

MODEL_NAME = "lightgbm"
QUANTILES: tuple[float, float] = (0.1, 0.9)


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
        """The artifact's version id ("unsaved" before
        :func:`~flowcast.models.spots.artifact.save_spot_model`)."""
        return str(self.info.get("version", "unsaved"))

    @property
    def lookback(self) -> int:
        """Buckets of history a complete feature row reads (the anchor included)."""
        return self.spec.lookback

    def predict(self, window: SpotSeries, horizons: Sequence[int] | None = None, *,
                intervals: bool = True, threads: int = 0) -> Forecast:
        """The :class:`~flowcast.models.forecaster.Forecaster` entry: ``(K, H)`` saturation
        forecasts of every spot of ``window`` at its last bucket, for ``horizons`` (buckets, a
        subset of the model's; None: all)."""
        columns = horizon_columns(self.horizons, horizons)
        forecast = self.predict_at(window, np.array([window.n_buckets - 1]),
                                   intervals=intervals, threads=threads)
        return select_horizons(forecast, columns)

    def predict_at(self, series: SpotSeries, columns: np.ndarray, *, intervals: bool = True,
                   threads: int = 0) -> Forecast:
        """Saturation forecasts ``(A * K, H)`` float32 >= 0 for anchors ``columns`` ``(A,)`` of
        ``series``: rows ``i * K + k`` as :func:`~flowcast.models.spots.features.
        feature_matrix`, one column per horizon; ``p10 <= p90`` when asked and present."""
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
            return Forecast(y)
        margin = np.array([self.interval_margin.get(h, 0.0) for h in self.horizons], np.float32)
        lo, hi = widen_intervals(np.minimum(lo, hi), np.maximum(lo, hi), margin)
        return Forecast(y, np.maximum(lo, 0.0), np.maximum(hi, 0.0))
