"""The one :class:`Forecaster` protocol every flowcast model meets, and its :class:`Forecast`.

A forecaster reads a *window*: the recent history of ``N`` series, oldest first, whose last
bucket is the one that just closed (the forecast's issue time). It forecasts each series
``horizons[j]`` buckets after that last bucket. What a window holds depends on what the kind
reads, which is why the protocol is generic in its type:

- the baselines (:mod:`flowcast.models.baselines`): ``np.ndarray (N, L)`` of the target, NaN
  = missing;
- the road model (:mod:`flowcast.models.roads.forecaster`): a
  :class:`~flowcast.models.roads.feature_history.FeatureHistory`, every road variable with its
  quality flags, imputation codes, static attributes and sensor graphs, which its features
  read;
- the intra-day spot model (:mod:`flowcast.models.spots.forecaster`): a
  :class:`~flowcast.models.spots.features.SpotSeries`, visitors and arrivals with capacity and
  opening hours;
- the daily-arrivals model (:mod:`flowcast.models.daily.protocol`): one spot's daily
  ``pd.Series`` (``N = 1``) indexed by local date, because its calendar features (holidays,
  make-up working days) need the dates themselves; its horizons are days, not buckets.

Every kind returns a :class:`Forecast` in the target's own units (km/h, saturation, visitors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

WindowT = TypeVar("WindowT", contravariant=True)


@dataclass(frozen=True)
class Forecast:
    """Forecasts of ``N`` series for ``H`` horizons: ``y`` ``(N, H)`` (float32, float64 for
    the daily model) in the target's units, NaN where a series has nothing to go on; ``p10``
    and ``p90`` ``(N, H)`` the interval bounds, ``p10 <= p90`` everywhere, or None when the
    forecaster has no intervals (or none were asked for)."""

    y: np.ndarray
    p10: np.ndarray | None = None
    p90: np.ndarray | None = None


@runtime_checkable
class Forecaster(Protocol[WindowT]):
    """What the engine, the backtests and the replay need from any forecaster.

    ``name``: what reports and messages call it (``lightgbm``, ``last_value``, ...).
    ``version``: the artifact's version id (``builtin`` for the baselines, which are code).
    ``horizons``: what it forecasts when asked for nothing else, ascending, in buckets ahead
    (days for the daily model); empty for a forecaster that forecasts any horizon it is asked
    for (the baselines). ``lookback``: buckets of history a complete forecast reads.
    """

    @property
    def name(self) -> str:
        """The forecaster's name in reports and messages."""
        ...

    @property
    def version(self) -> str:
        """Version id of what is serving."""
        ...

    @property
    def horizons(self) -> tuple[int, ...]:
        """Its own horizons (buckets ahead), or ``()`` when it takes any."""
        ...

    @property
    def lookback(self) -> int:
        """Buckets of history (the window's length) a complete forecast reads."""
        ...

    def predict(self, window: WindowT, horizons: Sequence[int] | None = None, *,
                intervals: bool = True, threads: int = 0) -> Forecast:
        """Forecast every series of ``window`` for ``horizons`` (buckets after its last
        bucket; None: the forecaster's own, which one without its own refuses). ``intervals``:
        also P10/P90 when the forecaster has them. ``threads``: worker threads of a model
        that has them (0: its default)."""
        ...


def horizon_columns(own: Sequence[int], wanted: Sequence[int] | None) -> list[int] | None:
    """Columns of ``own`` horizons that give ``wanted`` (None: all of them, in order).
    Raises ``ValueError`` naming a horizon a fixed-horizon forecaster does not have."""
    if wanted is None:
        return None
    own = [int(h) for h in own]
    missing = [int(h) for h in wanted if int(h) not in own]
    if missing:
        raise ValueError(f"no forecast for horizon(s) {missing}; the model forecasts {own}")
    return [own.index(int(h)) for h in wanted]


def select_horizons(forecast: Forecast, columns: list[int] | None) -> Forecast:
    """``forecast`` restricted to ``columns`` (from :func:`horizon_columns`; None: as is)."""
    if columns is None:
        return forecast
    return Forecast(forecast.y[:, columns],
                    None if forecast.p10 is None else forecast.p10[:, columns],
                    None if forecast.p90 is None else forecast.p90[:, columns])
