"""The daily-arrivals model meets the Forecaster protocol: the same figures as its own table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowcast.models.daily.boosting import DailyConfig
from flowcast.models.daily.forecaster import fit
from flowcast.models.daily.protocol import DailyArrivalsForecaster
from flowcast.models.forecaster import Forecaster


def test_the_daily_model_forecasts_through_the_protocol() -> None:
    days = pd.date_range("2024-01-01", periods=200, freq="D", name="date")
    rng = np.random.default_rng(0)
    weekly = np.where(days.day_of_week >= 5, 1.8, 1.0)
    series = pd.Series(np.round(2000 * weekly * rng.lognormal(0, 0.05, len(days))), index=days,
                       name="spot-a")
    model = fit(series, (1, 3), DailyConfig(max_rounds=30, early_stopping=5, min_rounds=5))
    forecaster = DailyArrivalsForecaster(model)
    assert isinstance(forecaster, Forecaster)
    assert forecaster.horizons == (1, 3) and forecaster.version == model.version
    table = model.predict(series)
    got = forecaster.predict(series)
    assert got.y.shape == (1, 2)
    np.testing.assert_array_equal(got.y[0], table["y_pred"].to_numpy())
    assert got.p10 is not None and got.p90 is not None
    np.testing.assert_array_equal(got.p90[0], table["p90"].to_numpy())
    assert forecaster.predict(series, [3], intervals=False).p10 is None
