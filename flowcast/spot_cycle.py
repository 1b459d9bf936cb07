"""The scenic-spot forecast cycle: what runs when a spot bucket closes for one partition.

Read the partition's visitors, forecast every spot for every horizon, build the spot forecast
messages, and advance the saturation-alert lifecycle.
"""

from __future__ import annotations

import numpy as np

from flowcast.city import City
from flowcast.config import Settings
from flowcast.cycle import horizon_buckets
from flowcast.engine_state import SpotState
from flowcast.models.baselines import LastValue, SeasonalNaive
from flowcast.publish.alerts import AlertTracker
from flowcast.publish.cap import alert_messages
from flowcast.publish.messages import SpotForecasts, spot_forecast_messages


class SpotCycle:
    """Forecast cycle of the spots one partition holds (``spots``: global indices in the
    :class:`SpotState`'s local order), with their saturation alerts."""

    def __init__(self, city: City, spots: np.ndarray, settings: Settings) -> None:
        self.bucket_s = settings.time.spot_bucket_s
        self.horizons_min = np.array(settings.engine.spot_horizons_min, dtype=np.int64)
        self.horizons = horizon_buckets(settings.engine.spot_horizons_min, self.bucket_s)
        self.seasonal = SeasonalNaive(season=86400 // self.bucket_s)
        self.last = LastValue(max_age=4)
        self.spot_ids = city.spot_ids[spots]
        self.capacity = city.spot_capacity_instant[spots]
        # fed every cycle, replayed ones included, so a restarted engine rebuilds the active
        # alerts from the same history instead of raising them again
        self.alerts = AlertTracker.from_settings(city, settings)

    def run(self, state: SpotState, bucket_id: int) -> list[tuple[bytes, bytes]]:
        """Forecast messages for the spot bucket ``bucket_id`` that just closed."""
        return spot_forecast_messages(self.forecasts(state, bucket_id))

    def forecasts(self, state: SpotState, bucket_id: int) -> SpotForecasts:
        """Visitors now and forecast for every held spot after ``bucket_id`` closed."""
        window = state.window(bucket_id + 1, self.seasonal.lookback)
        visitors = window.visitors
        forecast = self.seasonal.predict(visitors, self.horizons)
        fallback = self.last.predict(visitors, self.horizons)
        model = "baseline:seasonal_naive"
        if np.isnan(forecast).all():
            model = "baseline:last_value"
        forecast = np.where(np.isnan(forecast), fallback, forecast)
        return SpotForecasts(
            spot_ids=self.spot_ids, issued_at_ms=(bucket_id + 1) * self.bucket_s * 1000,
            horizons_min=self.horizons_min, capacity_instant=self.capacity,
            visitors=visitors[:, -1], arrivals=window.arrivals[:, -1],
            forecast_visitors=np.maximum(forecast, 0.0), model=model)

    def alert_messages(self, forecasts: SpotForecasts) -> list[tuple[bytes, bytes]]:
        """Advance the alert lifecycle by one cycle; the CAP messages it raises (key: spot)."""
        return alert_messages(self.alerts.step(forecasts))
