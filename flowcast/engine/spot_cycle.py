"""The scenic-spot forecast cycle: what runs when a spot bucket closes for one partition.

Read the partition's visitors, forecast every spot for every horizon, build the spot forecast
messages, and advance the saturation-alert lifecycle.

The forecast is the intra-day spot model's (``MODEL_DIR/spots``, held by a
:class:`~flowcast.engine.model_holder.ModelHolder` that swaps in new versions) when there is
one, called through :class:`~flowcast.models.forecaster.Forecaster` with the ring's window as a
:class:`~flowcast.models.spots.features.SpotSeries`: saturation x instantaneous capacity,
with a P10-P90 interval when the model has one. A spot with no visitors count in its last
buckets, and every spot while no model serves, gets the seasonal-naive baseline (the same time
yesterday), else the last value. The message's
``model`` field says which: ``lightgbm:<version>``, ``baseline:seasonal_naive`` or
``baseline:last_value``.

Every cycle also computes the day view (:mod:`flowcast.publish.spots.daily_view`): arrivals so far
today, the day's expected arrivals and daily saturation, and tomorrow's, from the whole
history ring (about 8 days). The days-ahead daily-arrivals model (``docs/daily-arrivals.md``)
needs 28 days of daily lags, more than the ring holds, so it is not served live.
"""

from __future__ import annotations

import numpy as np

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.model_holder import SpotModelHolder
from flowcast.engine.spot_state import SpotState
from flowcast.models.baselines import LastValue, SeasonalNaive
from flowcast.models.horizons import minutes_to_buckets
from flowcast.models.spots.features import SpotSeries
from flowcast.publish.spots.alerts import AlertTracker
from flowcast.publish.spots.cap import alert_messages
from flowcast.publish.spots.daily_view import DayView, day_view
from flowcast.publish.spots.forecasts import SpotForecasts, spot_forecast_messages

LAST_VALUE_AGE = 4  # buckets: older than this, a spot has no last value
# A partition holds tens of spots: one LightGBM thread forecasts them in milliseconds, while
# OpenMP's thread start-up on a busy machine cost 40x that in measurements.
LIVE_THREADS = 1


class SpotCycle:
    """Forecast cycle of the spots one partition holds (``spots``: global indices in the
    :class:`SpotState`'s local order), with their saturation alerts."""

    def __init__(self, city: City, spots: np.ndarray, settings: Settings,
                 models: SpotModelHolder | None = None) -> None:
        self.bucket_s = settings.time.spot_bucket_s
        self.horizons_min = np.array(settings.engine.spot_horizons_min, dtype=np.int64)
        self.horizons = np.asarray(
            minutes_to_buckets(settings.engine.spot_horizons_min, self.bucket_s), np.int64)
        self.seasonal = SeasonalNaive(season=86400 // self.bucket_s)
        self.last = LastValue(max_age=LAST_VALUE_AGE)
        self.models = models
        self.spot_ids = city.spot_ids[spots]
        self.capacity = city.spot_capacity_instant[spots]
        self.capacity_daily = city.spot_capacity_daily[spots]
        self.opens_min = city.spot_opens_min[spots].astype(np.float64)
        self.closes_min = city.spot_closes_min[spots].astype(np.float64)
        # fed every cycle, replayed ones included, so a restarted engine rebuilds the active
        # alerts from the same history instead of raising them again; with an alerts reader
        # the engine then restarts it from the alerts topic (restore_alerts)
        self.alerts = AlertTracker.from_settings(city, settings)
        self._city, self._settings = city, settings

    def run(self, state: SpotState, bucket_id: int) -> list[tuple[bytes, bytes]]:
        """Forecast messages for the spot bucket ``bucket_id`` that just closed."""
        return spot_forecast_messages(self.forecasts(state, bucket_id))

    def forecasts(self, state: SpotState, bucket_id: int, *,
                  with_day: bool = True) -> SpotForecasts:
        """Visitors now and forecast for every held spot after ``bucket_id`` closed (the
        model's when one serves, else the baselines'; intervals in visitors when the model
        has them), with the daily view unless ``with_day`` is False."""
        model = self.models.current() if self.models is not None else None
        length = self.seasonal.lookback if model is None else max(model.lookback,
                                                                   self.seasonal.lookback)
        window = state.window(bucket_id + 1, length)
        visitors = window.visitors
        forecast, name = self._baseline(visitors[:, -self.seasonal.lookback:])
        p10 = p90 = None
        if model is not None:
            series = SpotSeries.from_window(window, bucket_s=model.bucket_s,
                                            capacity=self.capacity, opens_min=self.opens_min,
                                            closes_min=self.closes_min,
                                            utc_offset_min=state.utc_offset_ms // 60_000)
            live = model.predict(series, threads=LIVE_THREADS)
            # a spot that has stopped reporting has nothing for the model to go on
            silent = np.isnan(visitors[:, -LAST_VALUE_AGE:]).all(axis=1)[:, None]
            capacity = self.capacity[:, None]
            forecast = np.where(silent, forecast, live.y * capacity)
            if live.p10 is not None and live.p90 is not None:
                p10 = np.where(silent, np.nan, live.p10 * capacity)
                p90 = np.where(silent, np.nan, live.p90 * capacity)
            name = f"lightgbm:{model.version}"
        return SpotForecasts(
            spot_ids=self.spot_ids, issued_at_ms=(bucket_id + 1) * self.bucket_s * 1000,
            horizons_min=self.horizons_min, capacity_instant=self.capacity,
            visitors=visitors[:, -1], arrivals=window.arrivals[:, -1],
            forecast_visitors=np.maximum(forecast, 0.0), model=name,
            forecast_p10=p10, forecast_p90=p90,
            day=self.day_view(state, bucket_id) if with_day else None)

    def day_view(self, state: SpotState, bucket_id: int) -> DayView:
        """Today's and tomorrow's arrivals against daily capacity for every held spot after
        ``bucket_id`` closed, from the whole history ring."""
        ring = state.window(bucket_id + 1, state.history[6].shape[0])
        return day_view(ring.arrivals, ring.count, ring.first_bucket, state.bucket_ms // 1000,
                        state.utc_offset_ms // 60_000, self.capacity_daily)

    def _baseline(self, visitors: np.ndarray) -> tuple[np.ndarray, str]:
        """Seasonal naive, last value where it has nothing: ``(K, H)`` visitors and the name
        of the baseline that served."""
        forecast = self.seasonal.predict(visitors, self.horizons).y
        fallback = self.last.predict(visitors, self.horizons).y
        name = "baseline:seasonal_naive"
        if np.isnan(forecast).all():
            name = "baseline:last_value"
        return np.where(np.isnan(forecast), fallback, forecast), name

    def alert_messages(self, forecasts: SpotForecasts) -> list[tuple[bytes, bytes]]:
        """Advance the alert lifecycle by one cycle; the CAP messages it raises (key: spot)."""
        return alert_messages(self.alerts.step(forecasts))

    def restore_alerts(self, messages: list[bytes], now_ms: int | None = None) -> list[str]:
        """Start the alert lifecycle afresh from the alerts topic read back (the newest
        message per spot, topic order): what was published is the truth, whatever the replay
        rebuilt. Returns the spots with an active alert."""
        self.alerts = AlertTracker.from_settings(self._city, self._settings)
        return self.alerts.restore_from_messages(messages, now_ms)
