"""The forecast cycle: what runs when a bucket closes for one partition.

Roads: read the partition's sensor history (imputed, never NaN inside the span), average the
sensors of each segment, forecast every segment for every horizon in one call, turn speeds into
levels and travel times, judge each forecast's trend (and confidence, when the model has
intervals), and build the condition messages. No Python loop per sensor or segment
except building the JSON. The scenic-spot cycle is :mod:`flowcast.engine.spot_cycle`.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from flowcast.city import City, Csr
from flowcast.config import Settings
from flowcast.engine.model_holder import RoadModelHolder
from flowcast.engine.road_state import RoadState
from flowcast.models.baselines import LastValue, profile_adjusted_persistence
from flowcast.models.forecaster import Forecaster
from flowcast.models.horizons import minutes_to_buckets
from flowcast.models.roads.forecaster import RoadForecaster, live_window
from flowcast.models.roads.static_attributes import static_table
from flowcast.publish.roads.conditions import RoadConditions, road_condition_messages
from flowcast.publish.roads.levels import band_table, levels, travel_times_s
from flowcast.publish.roads.outlook import confidence, trends

log = logging.getLogger("flowcast.engine.road_cycle")

MAX_SPEED_FACTOR = 1.3
"""Published speeds stay within 0..this x the segment's free-flow speed."""


class RoadCycle:
    """Forecast cycle of the segments whose sensors one partition holds.

    ``sensors`` are the global indices the partition's :class:`RoadState` holds, in its local
    order.
    """

    def __init__(self, city: City, sensors: np.ndarray, settings: Settings,
                 forecaster: Forecaster | None = None, models: RoadModelHolder | None = None,
                 graph: Csr | None = None) -> None:
        self.bucket_s = settings.time.road_bucket_s
        self.horizons_min = np.array(settings.engine.road_horizons_min, dtype=np.int64)
        self.horizons = np.asarray(
            minutes_to_buckets(settings.engine.road_horizons_min, self.bucket_s), np.int64)
        # None: the default baseline, last value corrected by the daily profile
        self.forecaster: Forecaster | None = forecaster
        self.last_value = LastValue()
        self.profile_days = 7
        self.per_day = 86400 // self.bucket_s
        seg_of_sensor = city.sensor_segment[sensors]
        self.segments, local_seg = np.unique(seg_of_sensor, return_inverse=True)
        counts = np.bincount(local_seg, minlength=len(self.segments)).astype(np.float64)
        # (G, N) averaging matrix: each segment is the mean of its sensors
        self.average = sp.csr_matrix(
            (1.0 / counts[local_seg], (local_seg, np.arange(len(sensors)))),
            shape=(len(self.segments), len(sensors)))
        self.segment_ids = city.segment_ids[self.segments]
        self.road_class = city.segment_class[self.segments]
        self.length_m = city.segment_length_m[self.segments]
        self.free_flow = city.segment_free_flow_kmh[self.segments]
        self.bands = band_table(settings.levels)
        self.min_speed = settings.levels.min_speed_kmh
        self.level_settings = settings.levels
        # the LightGBM model (through its holder, which reloads new versions), if any
        self.models = models
        if models is not None:
            models.metrics.describe("flowcast_model_failures_total",
                                    "Road forecast cycles whose model raised, served from the "
                                    "baseline instead; unit: cycles")
        self.model_threads = settings.engine.model_threads
        self.timezone = city.timezone
        self.static = static_table(city, sensors)
        self.graph = graph
        # the directed sensor graphs in the partition's order, for directed neighbour features
        _, self.upstream, self.downstream = city.sensor_graphs(sensors)

    @property
    def model(self) -> str:
        """Version string of the forecaster in use."""
        if self.forecaster is None:
            return "baseline:last_value+daily_profile"
        return f"baseline:{self.forecaster.name}"

    def run(self, state: RoadState, bucket_id: int) -> list[tuple[bytes, bytes]]:
        """Messages for the bucket ``bucket_id`` that just closed in ``state``."""
        return road_condition_messages(self.conditions(state, bucket_id))

    def conditions(self, state: RoadState, bucket_id: int) -> RoadConditions:
        """Current and forecast conditions of every segment after ``bucket_id`` closed: from
        the LightGBM model when one is in service, else from the baseline (also the fallback
        when the model fails)."""
        baseline = self._baseline_conditions(state, bucket_id)
        model = self.models.current() if self.models is not None else None
        if model is None:
            return self._with_outlook(baseline)
        try:
            return self._with_outlook(self._model_conditions(model, state, bucket_id, baseline))
        except Exception:  # a broken model must not stop the screens: serve the baseline
            log.exception("model %s failed for bucket %d; serving the baseline", model.version,
                          bucket_id)
            self.models.metrics.inc("flowcast_model_failures_total")  # type: ignore[union-attr]
            return self._with_outlook(baseline)

    def _with_outlook(self, c: RoadConditions) -> RoadConditions:
        """``c`` with the trend of every forecast against now, and its confidence when the
        forecast has a speed interval (:mod:`flowcast.publish.roads.outlook`)."""
        s = self.level_settings
        trend = trends(c.travel_time_s, c.level, c.forecast_travel_time_s, c.forecast_level,
                       s.trend_tolerance)
        if c.forecast_p10 is None or c.forecast_p90 is None:
            return replace(c, forecast_trend=trend, forecast_confidence=None,
                           forecast_confidence_score=None)
        conf = confidence(c.forecast_speed, c.forecast_p10, c.forecast_p90, self.road_class,
                          self.bands, high_width=s.confidence_high_width,
                          low_width=s.confidence_low_width,
                          speed_floor_kmh=s.confidence_speed_floor_kmh)
        return replace(c, forecast_trend=trend, forecast_confidence=conf.label,
                       forecast_confidence_score=conf.score)

    def _model_conditions(self, model: RoadForecaster, state: RoadState, bucket_id: int,
                          baseline: RoadConditions) -> RoadConditions:
        window = live_window(model, state.window, bucket_id, timezone=self.timezone,
                             static=self.static, graph=self.graph, upstream=self.upstream,
                             downstream=self.downstream)
        live = model.predict(window, threads=self.model_threads)
        now = baseline.speed[:, None]
        forecast = self._bounded(self._segments(live.y), now)
        p10 = p90 = None
        if live.p10 is not None and live.p90 is not None:
            p10 = self._bounded(self._segments(live.p10), now)
            p90 = np.maximum(self._bounded(self._segments(live.p90), now), p10)
        horizons_min = np.asarray(model.horizons, np.int64) * self.bucket_s // 60
        return replace(
            baseline, horizons_min=horizons_min, forecast_speed=forecast,
            forecast_level=levels(forecast, self.road_class[:, None], self.bands),
            forecast_travel_time_s=travel_times_s(self.length_m[:, None], forecast,
                                                  self.min_speed),
            forecast_p10=p10, forecast_p90=p90, model=f"lightgbm:{model.version}")

    def _bounded(self, forecast: np.ndarray, now: np.ndarray) -> np.ndarray:
        """Forecast speeds with gaps filled by the current speed and kept within
        0..``MAX_SPEED_FACTOR`` x free flow."""
        filled = np.where(np.isnan(forecast), now, forecast.astype(np.float64))
        return np.clip(filled, 0.0, self.free_flow[:, None] * MAX_SPEED_FACTOR)

    def _baseline_conditions(self, state: RoadState, bucket_id: int) -> RoadConditions:
        forecaster = self.forecaster or self.last_value
        window = state.window(bucket_id + 1, max(forecaster.lookback, 1))
        speed_hist = self._segments(window.speed)
        now_speed = speed_hist[:, -1]
        now_speed = np.where(np.isnan(now_speed), self.free_flow, now_speed)
        # a speed past free flow is a fast night or a detector's error, never information a
        # screen needs: every published speed, now and forecast, has the same bound
        now_speed = np.clip(now_speed, 0.0, self.free_flow * MAX_SPEED_FACTOR)
        if self.forecaster is None:
            last = self.last_value.predict(speed_hist, self.horizons[:1]).y[:, 0]
            last = np.where(np.isnan(last), now_speed, last)
            forecast = profile_adjusted_persistence(last, self._daily_profile(state, bucket_id))
        else:
            forecast = self.forecaster.predict(speed_hist, self.horizons).y
        forecast = self._bounded(forecast, now_speed[:, None])
        imputed = (window.imputed[:, -1] != 0).astype(np.float64)
        return RoadConditions(
            segment_ids=self.segment_ids,
            issued_at_ms=(bucket_id + 1) * self.bucket_s * 1000,
            horizons_min=self.horizons_min,
            speed=now_speed,
            level=levels(now_speed, self.road_class, self.bands),
            travel_time_s=travel_times_s(self.length_m, now_speed, self.min_speed),
            flow=self._segments(window.flow[:, -1:])[:, 0],
            occupancy=self._segments(window.occupancy[:, -1:])[:, 0],
            imputed_share=self.average @ imputed,
            forecast_speed=forecast,
            forecast_level=levels(forecast, self.road_class[:, None], self.bands),
            forecast_travel_time_s=travel_times_s(self.length_m[:, None], forecast,
                                                  self.min_speed),
            model=self.model,
        )

    def _daily_profile(self, state: RoadState, bucket_id: int) -> np.ndarray:
        """Segment speeds on each of the past days at the time of day of ``bucket_id``
        (column 0) and of each horizon's target (columns 1..H): ``(G, K, 1 + H)``, NaN where
        the history does not reach. Reads a few short slices, not the whole span."""
        steps = np.concatenate([[0], self.horizons])
        span = int(steps.max()) + 1
        out = np.full((len(self.segments), self.profile_days, len(steps)), np.nan)
        for k in range(1, self.profile_days + 1):
            start = bucket_id - k * self.per_day
            if start < 0:
                break
            speed = state.window(start + span, span).speed
            out[:, k - 1, :] = self._segments(speed[:, steps])
        return out

    def _segments(self, sensor_values: np.ndarray) -> np.ndarray:
        """Per-segment means of a ``(N, L)`` sensor array; NaN sensors are skipped."""
        values = sensor_values.astype(np.float64)
        known = ~np.isnan(values)
        total = self.average @ np.where(known, values, 0.0)
        weight = self.average @ known.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weight > 0, total / weight, np.nan)
