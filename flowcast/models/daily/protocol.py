"""The daily-arrivals model seen through the :class:`~flowcast.models.forecaster.Forecaster`
protocol.

:class:`~flowcast.models.daily.forecaster.DailyArrivalsModel` answers with a long predictions
table (one row per horizon, with times and the truth); :class:`DailyArrivalsForecaster` wraps
it so the engine, backtests and reports can treat it as any other forecaster. Its window is one
spot's daily series (a ``pd.Series`` of visitors per local day, indexed by date, ``N = 1``):
the model's calendar features need the dates, so a bare ``(N, L)`` array would not do. Its
horizons are days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowcast.models.daily import features as dfe
from flowcast.models.daily.forecaster import MODEL_NAME, DailyArrivalsModel
from flowcast.models.forecaster import Forecast


@dataclass(frozen=True)
class DailyArrivalsForecaster:
    """A trained daily-arrivals ``model`` as a forecaster of one spot's daily series."""

    model: DailyArrivalsModel
    name: str = MODEL_NAME

    @property
    def version(self) -> str:
        """The model's version id."""
        return self.model.version

    @property
    def horizons(self) -> tuple[int, ...]:
        """The horizons (days) the model forecasts."""
        return self.model.horizons

    @property
    def lookback(self) -> int:
        """Days of history a complete forecast reads (the longest daily lag, and the issue
        day)."""
        return max(dfe.LAG_DAYS) + 1

    def predict(self, window: pd.Series, horizons: Sequence[int] | None = None, *,
                intervals: bool = True, threads: int = 0) -> Forecast:
        """Visitors per day ``(1, H)`` float64 forecast at the end of the series' last day for
        ``horizons`` days ahead (None: all the model's), with P10/P90 when the model has them
        and ``intervals``. Raises the model's ``DailyModelError`` as its own ``predict`` does."""
        table = self.model.predict(window, horizons)
        y = table["y_pred"].to_numpy(np.float64)[None, :]
        lo = table["p10"].to_numpy(np.float64)[None, :]
        hi = table["p90"].to_numpy(np.float64)[None, :]
        if not intervals or np.isnan(lo).all():
            return Forecast(y)
        return Forecast(y, lo, hi)
