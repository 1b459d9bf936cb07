"""A live city for the publish tests: a simulated Golden-Week morning streamed through the real
engine over the in-process bus, whose output topics feed a live view through an OutputReader;
``advance`` streams more time so tests can watch live updates arrive."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from engine_harness import engine_test_settings, quiet_simulator

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.ingest.simulator import Simulator, generate_city
from flowcast.ingest.stream import stream_simulation
from flowcast.publish.roads.conditions import RoadConditions, road_condition_messages
from flowcast.publish.roads.levels import band_table, levels, travel_times_s
from flowcast.publish.spots.alerts import AlertTracker
from flowcast.publish.spots.cap import CapAlert
from flowcast.publish.spots.forecasts import SpotForecasts, spot_forecast_messages
from flowcast.publish.spots.saturation_cycle import SaturationCycle
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink

TZ = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 10, 2, 6, 0, tzinfo=TZ)  # National Day Golden Week: spots fill up
TOKEN = "s3cret-test-token"


MORNING_MS = int(dt.datetime(2026, 10, 2, 9, 0, tzinfo=TZ).timestamp() * 1000)
"""A Golden-Week morning (09:00 +08:00), epoch ms: the issue time the view tests start from."""


def apply_records(view: Any, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Apply (key, value) records of ``topic`` to a live view, in order."""
    for key, value in records:
        view.apply(topic, key, value)


def live_settings(**http: Any) -> Settings:
    """Engine settings for tests, with an acknowledgement token and a short SSE keepalive."""
    data = engine_test_settings(Settings()).model_dump()
    data["http"].update({"token": TOKEN, "sse_keepalive_s": 0.5, "recent_minutes": 600} | http)
    return Settings.model_validate(data)


class LiveCity:
    """A small simulated city, a bus with the project's topics, and the real engine.

    ``start(hours)`` streams the first hours and runs the engine until it has published
    everything; ``advance(minutes)`` streams and processes more.
    """

    def __init__(self, settings: Settings | None = None, sensors: int = 30, spots: int = 3,
                 seed: int = 5) -> None:
        self.city: City = generate_city(sensors, spots, seed=seed)
        self.settings = settings or live_settings()
        self.bus = Bus(default_partitions=2, retention=2_000_000)
        for topic in self.settings.topics.all_names():
            self.bus.create_topic(topic)
        self.sim: Simulator = quiet_simulator(self.city, START, seed=seed)
        self.until = START
        self.clock = EventClock(int(START.timestamp() * 1000))
        self.engine: Engine | None = None

    def start(self, hours: float) -> LiveCity:
        """Stream ``hours`` of readings and publish their outputs."""
        consumer = self.bus.consumer(group_id="engine", enable_auto_commit=False,
                                     auto_offset_reset="earliest")
        self.engine = Engine(self.city, self.settings, consumer, [BusSink(self.bus)],
                             clock=self.clock)
        self.engine.subscribe()
        return self.advance(hours * 60)

    def advance(self, minutes: float) -> LiveCity:
        """Stream ``minutes`` more of readings and let the engine publish their outputs."""
        assert self.engine is not None, "call start() first"
        self.until += dt.timedelta(minutes=minutes)
        stream_simulation(self.sim, BusSink(self.bus), self.until, 0.0, "json", self.settings,
                          progress=False)
        self.clock.ms = int(self.until.timestamp() * 1000)
        quiet = 0
        while quiet < 3:
            quiet = quiet + 1 if self.engine.step().records == 0 else 0
        return self

    def output_consumer(self) -> Any:
        """A consumer without a group, for an OutputReader."""
        return self.bus.consumer()

    def close(self) -> None:
        """Close the engine's consumer."""
        if self.engine is not None:
            self.engine.consumer.close()


def wait_for(check: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


# ----- messages built by the real builders, for unit tests ------------------------------------
HORIZONS_MIN = np.array([15, 30, 45, 60])


def condition_records(city: City, settings: Settings, issued_at: int,
                      speed_kmh: np.ndarray | float, segments: list[str] | None = None,
                      forecast_factor: float = 1.0) -> list[tuple[bytes, bytes]]:
    """Road condition ``(key, value)`` records for ``segments`` (default all) at ``issued_at``
    with these speeds now (km/h) and ``speed * forecast_factor`` at every horizon, built by
    :func:`road_condition_messages`; levels and travel times from the real level bands."""
    ids = np.array(segments if segments is not None else city.segment_ids.tolist(), dtype=object)
    index = city.segment_index(ids)
    speed = np.broadcast_to(np.asarray(speed_kmh, dtype=np.float64), (len(ids),)).copy()
    bands = band_table(settings.levels)
    klass, length = city.segment_class[index], city.segment_length_m[index]
    f_speed = np.repeat(speed[:, None] * forecast_factor, len(HORIZONS_MIN), axis=1)
    conditions = RoadConditions(
        segment_ids=ids, issued_at_ms=issued_at, horizons_min=HORIZONS_MIN, speed=speed,
        level=levels(speed, klass, bands),
        travel_time_s=travel_times_s(length, speed, settings.levels.min_speed_kmh),
        flow=np.full(len(ids), 100.0), occupancy=np.full(len(ids), 0.1),
        imputed_share=np.zeros(len(ids)), forecast_speed=f_speed,
        forecast_level=levels(f_speed, klass[:, None], bands),
        forecast_travel_time_s=travel_times_s(length[:, None], f_speed,
                                              settings.levels.min_speed_kmh),
        model="test")
    return road_condition_messages(conditions)


def spot_records(city: City, issued_at: int, saturation: float,
                 peak: float | None = None) -> list[tuple[bytes, bytes]]:
    """Spot forecast records of every spot at ``issued_at``: ``saturation`` of capacity now,
    rising linearly to ``peak`` (default the same) at the last of six hourly horizons."""
    capacity = city.spot_capacity_instant.astype(np.float64)
    horizons = np.arange(60, 361, 60)
    ramp = np.linspace(saturation, saturation if peak is None else peak, len(horizons))
    forecasts = SpotForecasts(
        spot_ids=city.spot_ids, issued_at_ms=issued_at, horizons_min=horizons,
        capacity_instant=capacity, visitors=np.round(capacity * saturation),
        arrivals=np.full(city.n_spots, 50.0),
        forecast_visitors=np.round(capacity[:, None] * ramp[None, :]), model="test")
    return spot_forecast_messages(forecasts)


def alert_lifecycle(city: City, spot: str, start_ms: int) -> list[CapAlert]:
    """The messages the real :class:`AlertTracker` sends for ``spot`` over a clean rise and
    fall (the other spots stay calm): an Alert, Updates, and finally a Cancel."""
    tracker = AlertTracker(city)
    bucket = 15 * 60_000
    horizons = np.arange(15, 241, 15)
    cap = city.spot_capacity_instant.astype(np.float64)
    phases = [0.6] * 2 + [0.9] * 3 + [1.1] * 3 + [0.5] * 10
    out: list[CapAlert] = []
    for n, level in enumerate(phases):
        now = start_ms + n * bucket
        sat = np.where(city.spot_ids == spot, level, 0.3)
        cycle = SaturationCycle(
            spot_ids=city.spot_ids, issued_at_ms=now, valid_at_ms=now + horizons * 60_000,
            visitors=np.round(sat * cap),
            forecast_visitors=np.round(sat[:, None] * cap[:, None] * np.ones(len(horizons))),
            capacity=cap)
        out += tracker.step(cycle)
    return out
