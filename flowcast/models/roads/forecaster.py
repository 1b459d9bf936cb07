"""The road forecaster: direct multi-horizon LightGBM, one booster per horizon.

A :class:`RoadForecaster` meets :class:`~flowcast.models.forecaster.Forecaster`: its window is a
:class:`~flowcast.models.roads.feature_history.FeatureHistory` whose last bucket is the anchor,
one row per sensor. :meth:`RoadForecaster.predict_rows` maps feature rows ``X (R, F)`` (built by
:mod:`flowcast.models.roads.matrices`, the same kernel offline and live) to forecasts of its target
(speed km/h by default) ``horizons[j]`` buckets after each row's anchor bucket. Optional
quantile boosters give P10 and P90 per horizon; they are sorted per row, so ``p10 <= p90``
always holds (two boosters fitted apart can cross; sorting is the standard fix and never widens
the interval). Quantile boosters alone under-cover (about 70 % for a nominal 80 % on SZ-taxi), so
training calibrates them on the validation tail, conformalized quantile regression style
(:func:`conformal_margins`): each horizon's interval is widened (or narrowed) by a margin in the
target's units, kept in ``model.json`` as ``interval_margin``.

The engine's forecast step for one partition is :func:`live_window` (only the ring buckets the
spec needs, :func:`~flowcast.models.roads.live_features.live_history`) then
:meth:`RoadForecaster.predict` (one row per sensor,
:func:`~flowcast.models.roads.live_features.live_matrix`, every horizon); :func:`predict_live` does
both.

Boosters are LightGBM text models (``flowcast.models.roads.artifact`` writes and reads them; no
pickle anywhere).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np

from flowcast.city import Csr
from flowcast.kernels.windows import Window
from flowcast.models.calendar import DEFAULT_TIMEZONE
from flowcast.models.forecaster import Forecast, horizon_columns, select_horizons
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.live_features import live_history, live_matrix

MODEL_NAME = "lightgbm"
QUANTILES: tuple[float, float] = (0.1, 0.9)
# Physical bounds of each target, applied to every prediction (a tree ensemble cannot leave the
# range of its training targets by much, but a bad row should never give a negative speed).
TARGET_BOUNDS: dict[str, tuple[float, float]] = {
    "speed": (0.0, np.inf), "flow": (0.0, np.inf), "occupancy": (0.0, 1.0)}


@dataclass(frozen=True)
class LiveForecast:
    """One live forecast cycle: ``anchor_bucket`` is the bucket that just closed;
    ``horizons`` (buckets) as the model's; ``y``/``p10``/``p90`` ``(N, H)``, one row per sensor
    of the window, in the window's order."""

    anchor_bucket: int
    horizons: tuple[int, ...]
    y: np.ndarray
    p10: np.ndarray | None
    p90: np.ndarray | None

    @property
    def target_buckets(self) -> np.ndarray:
        """``(H,)`` int64: the bucket each horizon's forecast is for."""
        return self.anchor_bucket + np.asarray(self.horizons, np.int64)


@dataclass
class RoadForecaster:
    """LightGBM road forecaster: ``boosters[h]`` predicts the target ``h`` buckets ahead.

    ``spec``: the features it reads (its ``bucket_s`` is the model's bucket). ``horizons``: in
    buckets, ascending. ``quantile_boosters[h]`` = (P10, P90) boosters, or empty.
    ``zero_is_missing``: the model was trained with exact-zero targets treated as "no data";
    live inputs get the same rule (:func:`prepare_values`). ``info`` is the artifact's
    ``model.json`` (empty for a model not yet saved).
    """

    spec: FeatureSpec
    horizons: tuple[int, ...]
    boosters: dict[int, lgb.Booster]
    quantile_boosters: dict[int, tuple[lgb.Booster, lgb.Booster]] = field(default_factory=dict)
    zero_is_missing: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    name: str = MODEL_NAME
    # horizon (buckets) -> margin added to each side of the P10/P90 interval (target units)
    interval_margin: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.horizons = tuple(int(h) for h in self.horizons)
        if not self.horizons or list(self.horizons) != sorted(set(self.horizons)):
            raise ValueError(f"horizons must be distinct and ascending, got {self.horizons}")
        if set(self.boosters) != set(self.horizons):
            raise ValueError("one booster per horizon is needed")
        if self.quantile_boosters and set(self.quantile_boosters) != set(self.horizons):
            raise ValueError("quantile boosters must cover every horizon, or none")

    @property
    def bucket_s(self) -> int:
        """Bucket length in seconds."""
        return self.spec.bucket_s

    @property
    def target(self) -> str:
        """The forecast variable (``speed``, ``flow`` or ``occupancy``)."""
        return self.spec.target

    @property
    def has_intervals(self) -> bool:
        """Whether P10/P90 boosters are present."""
        return bool(self.quantile_boosters)

    @property
    def version(self) -> str:
        """The artifact's version id ("unsaved" before :func:`~flowcast.models.roads.artifact.
        save_model`)."""
        return str(self.info.get("version", "unsaved"))

    @property
    def lookback(self) -> int:
        """Buckets of history a complete row reads (seasonal columns included)."""
        return self.spec.lookback

    def rows(self, window: FeatureHistory) -> np.ndarray:
        """Feature rows ``(N, F)`` float32, one per sensor at the window's last bucket, the
        model's zero rule applied to its target (a history already cleaned is unchanged)."""
        if self.zero_is_missing:
            window = _zeros_missing(window, self.target)
        return live_matrix(window, None, self.spec)

    def predict(self, window: FeatureHistory, horizons: Sequence[int] | None = None, *,
                intervals: bool = True, threads: int = 0) -> Forecast:
        """The :class:`~flowcast.models.forecaster.Forecaster` entry: ``(N, H)`` forecasts of
        every sensor of ``window`` (its last bucket the anchor; :func:`live_window` reads one
        from the engine's ring) for ``horizons`` (buckets, a subset of the model's; None: all),
        in the target's units."""
        columns = horizon_columns(self.horizons, horizons)
        forecast = self.predict_rows(self.rows(window), intervals=intervals, threads=threads)
        return select_horizons(forecast, columns)

    def predict_rows(self, x: np.ndarray, *, intervals: bool = True,
                     threads: int = 0) -> Forecast:
        """Forecasts ``(R, H)`` of every horizon for feature rows ``x`` ``(R, F)`` float32
        (NaN = missing feature). ``intervals``: also P10/P90 when the model has them.
        ``threads``: LightGBM threads (0 = its default)."""
        x = self._check(x)
        y = self._stack(self.boosters, x, threads)
        if not (intervals and self.has_intervals):
            return Forecast(y)
        lo = self._stack({h: q[0] for h, q in self.quantile_boosters.items()}, x, threads)
        hi = self._stack({h: q[1] for h, q in self.quantile_boosters.items()}, x, threads)
        lo, hi = widen_intervals(np.minimum(lo, hi), np.maximum(lo, hi), self._margins())
        bound_lo, bound_hi = TARGET_BOUNDS[self.target]
        return Forecast(y, np.clip(lo, bound_lo, bound_hi), np.clip(hi, bound_lo, bound_hi))

    def _margins(self) -> np.ndarray:
        """``(H,)`` interval margins in horizon order (0 where uncalibrated)."""
        return np.array([self.interval_margin.get(h, 0.0) for h in self.horizons], np.float32)

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.spec.n_features:
            raise ValueError(f"feature rows must be (R, {self.spec.n_features}), got {x.shape}")
        return x

    def _stack(self, boosters: Mapping[int, lgb.Booster], x: np.ndarray,
               threads: int) -> np.ndarray:
        out = np.empty((len(x), len(self.horizons)), np.float32)
        lo, hi = TARGET_BOUNDS[self.target]
        for j, h in enumerate(self.horizons):
            if len(x):
                out[:, j] = boosters[h].predict(x, num_threads=threads)
        return np.clip(out, lo, hi, out=out)


def widen_intervals(lo: np.ndarray, hi: np.ndarray, margin: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(lo - margin, hi + margin)`` per horizon column (``lo``/``hi`` ``(R, H)``, ``margin``
    ``(H,)``); a negative margin narrows, never past the interval's midpoint."""
    if not np.any(margin):
        return lo, hi
    mid = (lo + hi) / 2
    return np.minimum(lo - margin, mid), np.maximum(hi + margin, mid)


def conformal_margins(y_true: np.ndarray, p10: np.ndarray, p90: np.ndarray,
                      horizons: Sequence[int], coverage: float = 0.8) -> dict[int, float]:
    """Per-horizon margins that make ``[p10 - m, p90 + m]`` cover ``coverage`` of a held-out
    set (conformalized quantile regression: ``m`` is the finite-sample-corrected
    ``coverage``-quantile of ``max(p10 - y, y - p90)``). ``y_true``, ``p10``, ``p90``:
    ``(R, H)``; NaN truths are skipped; a horizon with fewer than 20 truths keeps margin 0."""
    out: dict[int, float] = {}
    for j, h in enumerate(horizons):
        known = np.isfinite(y_true[:, j])
        n = int(known.sum())
        if n < 20:
            out[int(h)] = 0.0
            continue
        scores = np.maximum(p10[known, j] - y_true[known, j], y_true[known, j] - p90[known, j])
        level = min(1.0, np.ceil((n + 1) * coverage) / n)
        out[int(h)] = float(np.quantile(scores.astype(np.float64), level, method="higher"))
    return out


def prepare_values(values: np.ndarray, zero_is_missing: bool) -> np.ndarray:
    """The target series as a model reads it: exact zeros become NaN when ``zero_is_missing``
    (a copy; the input is not changed), else ``values`` itself."""
    if not zero_is_missing:
        return values
    return np.where(values == 0, np.float32(np.nan), values).astype(values.dtype, copy=False)


def live_window(model: RoadForecaster, read: Callable[[int, int], Window],
                anchor_bucket: int, *, timezone: str = DEFAULT_TIMEZONE,
                static: np.ndarray | None = None, graph: Csr | None = None,
                upstream: Csr | None = None, downstream: Csr | None = None) -> FeatureHistory:
    """The model's window at ``anchor_bucket`` (the bucket that just closed), reading only the
    buckets its spec needs through ``read(end_bucket, length)`` (``RoadState.window``; end
    exclusive). ``static`` ``(N, 4)`` from
    :func:`~flowcast.models.roads.static_attributes.static_table`; ``graph`` the state's local
    sensor CSR, ``upstream`` / ``downstream`` the directed ones (``City.sensor_graphs``),
    needed by a spec with directed neighbour features; ``timezone`` the city's IANA zone."""
    return live_history(read, anchor_bucket, model.spec, timezone=timezone, static=static,
                        graph=graph, upstream=upstream, downstream=downstream)


def live_rows(model: RoadForecaster, read: Callable[[int, int], Window],
              anchor_bucket: int, *, timezone: str = DEFAULT_TIMEZONE,
              static: np.ndarray | None = None, graph: Csr | None = None,
              upstream: Csr | None = None, downstream: Csr | None = None) -> np.ndarray:
    """Feature rows ``(N, F)`` of every sensor at ``anchor_bucket``: :meth:`RoadForecaster.rows`
    of :func:`live_window` (same arguments)."""
    return model.rows(live_window(model, read, anchor_bucket, timezone=timezone, static=static,
                                  graph=graph, upstream=upstream, downstream=downstream))


def _zeros_missing(history: FeatureHistory, target: str) -> FeatureHistory:
    values = dict(history.values)
    values[target] = prepare_values(values[target], True)
    return replace(history, values=values)


def predict_live(model: RoadForecaster, read: Callable[[int, int], Window],
                 anchor_bucket: int, *, timezone: str = DEFAULT_TIMEZONE,
                 static: np.ndarray | None = None, graph: Csr | None = None,
                 upstream: Csr | None = None, downstream: Csr | None = None,
                 intervals: bool = True, threads: int = 0) -> LiveForecast:
    """One live forecast cycle after bucket ``anchor_bucket`` closed: :func:`live_window`
    (same arguments) then :meth:`RoadForecaster.predict` of every horizon. Returns ``(N, H)``
    forecasts in the target's units, one row per sensor in the state's order."""
    window = live_window(model, read, anchor_bucket, timezone=timezone, static=static,
                         graph=graph, upstream=upstream, downstream=downstream)
    forecast = model.predict(window, intervals=intervals, threads=threads)
    return LiveForecast(int(anchor_bucket), model.horizons, forecast.y, forecast.p10,
                        forecast.p90)
