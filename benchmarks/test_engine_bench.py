"""The whole engine over the in-process bus: readings/s from polled records to published
conditions, with 10k sensors, for Arrow frames and JSON records; and close->ack latency.

Run: ``.venv/bin/pytest benchmarks/test_engine_bench.py --benchmark-only -s``. The broker is
left out on purpose (kafka-python's client costs are measured by the wire benchmarks and the
Kafka tests); this is the engine's own ceiling on this machine.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

import psutil
import pytest
from timing import Timed

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.ingest.simulator import FaultConfig, Simulator, SimulatorConfig, generate_city
from flowcast.ingest.stream import stream_simulation
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink

N_SENSORS = 10_000
REPORT_S = 10  # detectors reporting every 10 s: 30 readings per sensor per bucket
MINUTES = 30
START = dt.datetime(2026, 10, 8, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(N_SENSORS, 4, seed=3)


def _settings() -> Settings:
    data = Settings().model_dump()
    data["engine"].update({"start_from": "earliest", "poll_max_records": 5000})
    return Settings.model_validate(data)


def _loaded_bus(city: City, settings: Settings, fmt: str) -> tuple[Bus, int]:
    bus = Bus(default_partitions=6, retention=10_000_000)
    for topic in settings.topics.all_names():
        bus.create_topic(topic)
    sim = Simulator(city, START, seed=3, config=SimulatorConfig(report_interval_s=REPORT_S,
                                                        faults=FaultConfig.none()))
    stats = stream_simulation(sim, BusSink(bus), START + dt.timedelta(minutes=MINUTES), 0.0,
                              fmt, settings, progress=False)
    return bus, stats.readings


def _drain_engine(city: City, settings: Settings, bus: Bus) -> Engine:
    clock = EventClock(int((START + dt.timedelta(minutes=MINUTES)).timestamp() * 1000))
    consumer = bus.consumer(group_id=f"bench-{time.monotonic_ns()}", enable_auto_commit=False,
                            auto_offset_reset="earliest")
    engine = Engine(city, settings, consumer, [BusSink(bus)], clock=clock)
    engine.subscribe()
    quiet = 0
    while quiet < 2:
        quiet = quiet + 1 if engine.step().records == 0 else 0
    return engine


@pytest.mark.parametrize("fmt", ["arrow", "json"])
def test_engine_readings_per_second(benchmark: Any, city: City, fmt: str) -> None:
    settings = _settings()
    loaded: dict[str, Any] = {}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        bus, readings = _loaded_bus(city, settings, fmt)
        loaded["readings"] = readings
        return (city, settings, bus), {}

    drain = Timed(_drain_engine)
    engine = benchmark.pedantic(drain, setup=setup, rounds=3, iterations=1)
    rate = loaded["readings"] / drain.median
    p = engine.metrics.quantiles("flowcast_close_to_ack_seconds")
    rss = psutil.Process(os.getpid()).memory_info().rss
    benchmark.extra_info.update({"readings": loaded["readings"], "readings_per_s": rate,
                                 "close_to_ack_p50_ms": p.get(0.5, float("nan")) * 1000,
                                 "close_to_ack_p99_ms": p.get(0.99, float("nan")) * 1000,
                                 "rss_mb": rss / 2**20})
    print(f"\n{fmt}: {rate:,.0f} readings/s through the engine ({loaded['readings']:,} "
          f"readings, {N_SENSORS} sensors); close->ack p50 {p.get(0.5, 0) * 1000:.1f} ms, "
          f"p99 {p.get(0.99, 0) * 1000:.1f} ms; RSS {rss / 2**20:.0f} MB")
    assert engine.metrics.counter("flowcast_readings_total", kind="road") > 0
