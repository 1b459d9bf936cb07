"""End to end through the real broker: readings/s from the reading topics to acknowledged
outputs, the engine's close->ack latency, and `flowcast run`'s start to first output.

Run: ``.venv/bin/pytest benchmarks/test_broker_bench.py --benchmark-only -s``. The readings are
produced first (their cost is the producer's, measured by the wire benchmarks); the figure is
the engine draining them through kafka-python, broker included, on this 2-core machine.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from timing import Timed

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.loop import Engine
from flowcast.formats.city_write import save_city
from flowcast.ingest.simulator import FaultConfig, Simulator, SimulatorConfig, generate_city
from flowcast.ingest.stream import stream_simulation
from flowcast.transport.kafka_client import make_consumer
from flowcast.transport.sinks import KafkaSink
from flowcast.transport.topics import create_topics, topic_specs

N_SENSORS = 2000
REPORT_S = 10  # detectors reporting every 10 s: 30 readings per sensor per bucket
MINUTES = 30


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(N_SENSORS, 4, seed=4)


def _start() -> dt.datetime:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=MINUTES + 30)
    return start.replace(minute=start.minute - start.minute % 5, second=0, microsecond=0)


def _settings(kafka_settings: Settings) -> Settings:
    data = kafka_settings.model_dump()
    data["engine"].update({"start_from": "earliest", "poll_max_records": 5000})
    return Settings.model_validate(data)


def _produce(city: City, settings: Settings, fmt: str, start: dt.datetime) -> int:
    sink = KafkaSink.connect(settings.kafka)
    sim = Simulator(city, start, seed=4, config=SimulatorConfig(report_interval_s=REPORT_S,
                                                        faults=FaultConfig.none()))
    stats = stream_simulation(sim, sink, start + dt.timedelta(minutes=MINUTES), 0.0, fmt,
                              settings, progress=False)
    sink.close()
    return stats.readings


def _processed(engine: Engine) -> float:
    return (engine.metrics.counter("flowcast_readings_total", kind="road")
            + engine.metrics.counter("flowcast_readings_total", kind="spot"))


def _drain(city: City, settings: Settings, readings: int) -> tuple[Engine, float]:
    """Run an engine until it has processed ``readings``; returns it and the steady-state
    rate (readings/s from the first polled records on, group join excluded)."""
    consumer = make_consumer(settings.kafka, group_id=f"bench-{uuid.uuid4()}",
                             max_poll_records=settings.engine.poll_max_records,
                             fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
    engine = Engine(city, settings, consumer, [KafkaSink.connect(settings.kafka)])
    engine.subscribe()
    deadline = time.monotonic() + 300
    first: tuple[float, float] | None = None
    while time.monotonic() < deadline and _processed(engine) < readings:
        engine.step()
        if first is None and _processed(engine) > 0:
            first = (time.monotonic(), _processed(engine))
    if first is None:
        engine.close()
        raise AssertionError(f"the engine processed nothing in 300 s: {engine.metrics.render()}")
    steady = (readings - first[1]) / max(time.monotonic() - first[0], 1e-9)
    engine.close()
    return engine, steady


@pytest.mark.parametrize("fmt", ["arrow", "json"])
def test_broker_end_to_end_readings_per_second(benchmark: Any, city: City, fmt: str,
                                               kafka_settings: Settings,
                                               kafka_admin: KafkaAdminClient) -> None:
    settings = _settings(kafka_settings)
    create_topics(kafka_admin, topic_specs(settings.topics, partitions=4))
    readings = _produce(city, settings, fmt, _start())
    drain = Timed(_drain)
    engine, steady = benchmark.pedantic(drain, args=(city, settings, readings), rounds=2,
                                        iterations=1)
    rate = readings / drain.median
    p = engine.metrics.quantiles("flowcast_close_to_ack_seconds")
    benchmark.extra_info.update({"readings": readings, "readings_per_s": rate,
                                 "steady_readings_per_s": steady,
                                 "close_to_ack_p50_ms": p.get(0.5, 0) * 1000,
                                 "close_to_ack_p99_ms": p.get(0.99, 0) * 1000})
    print(f"\n{fmt} through the broker: {rate:,.0f} readings/s with the group join, "
          f"{steady:,.0f} once consuming ({readings:,} readings, "
          f"{N_SENSORS} sensors); close->ack p50 {p.get(0.5, 0) * 1000:.0f} ms, "
          f"p99 {p.get(0.99, 0) * 1000:.0f} ms")
    assert engine.metrics.counter("flowcast_buckets_closed_total", kind="road") > 0


def test_run_start_to_first_output(benchmark: Any, city: City, tmp_path: Path,
                                   kafka_settings: Settings,
                                   kafka_admin: KafkaAdminClient) -> None:
    """Seconds from `flowcast run` starting (warm Numba cache) to its first published
    condition, with an hour of readings waiting in the topic."""
    settings = _settings(kafka_settings)
    create_topics(kafka_admin, topic_specs(settings.topics, partitions=4))
    _produce(city, settings, "arrow", _start())
    city_file = tmp_path / "city.geojson"
    save_city(city, city_file)
    t = settings.topics
    config = tmp_path / "flowcast.toml"
    config.write_text(
        f'[kafka]\nbootstrap = "{settings.kafka.bootstrap}"\n'
        f'[topics]\nroad_readings = "{t.road_readings}"\nspot_readings = "{t.spot_readings}"\n'
        f'road_conditions = "{t.road_conditions}"\nspot_forecasts = "{t.spot_forecasts}"\n'
        f'deadletter = "{t.deadletter}"\n[engine]\nstart_from = "earliest"\n', encoding="utf-8")

    def first_output() -> float:
        began = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "flowcast", "run", "--config",
                                 str(config), "--city", str(city_file), "--group",
                                 f"start-{uuid.uuid4()}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        consumer = KafkaConsumer(t.road_conditions, bootstrap_servers=settings.kafka.bootstrap,
                                 group_id=f"watch-{uuid.uuid4()}", auto_offset_reset="latest")
        try:
            while time.monotonic() - began < 120:
                if consumer.poll(timeout_ms=100, max_records=1):
                    return time.monotonic() - began
            raise AssertionError("no output within 120 s")
        finally:
            proc.kill()
            proc.wait(10)
            consumer.close()

    seconds = benchmark.pedantic(first_output, rounds=2, iterations=1)
    print(f"\nflowcast run: first output after {seconds:.1f} s")


def test_live_close_to_ack_latency_and_lag(city: City, kafka_settings: Settings,
                                           kafka_admin: KafkaAdminClient) -> None:
    """A live stream (event time 60x faster than the wall clock, JSON readings every 10 s
    from every sensor) with the engine keeping up: close->ack latency quantiles and the
    largest consumer lag seen. Figures are printed and kept in the log, not asserted."""
    settings = _settings(kafka_settings)
    data = settings.model_dump()
    data["time"].update({"allowed_lateness_s": 5})
    settings = Settings.model_validate(data)
    create_topics(kafka_admin, topic_specs(settings.topics, partitions=4))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=40)
    start = start.replace(minute=start.minute - start.minute % 5, second=0, microsecond=0)
    done = threading.Event()

    def produce() -> None:
        sink = KafkaSink.connect(settings.kafka)
        sim = Simulator(city, start, seed=4,
                        config=SimulatorConfig(report_interval_s=REPORT_S,
                                               faults=FaultConfig.none()))
        stream_simulation(sim, sink, start + dt.timedelta(minutes=30), 60.0, "json", settings,
                          progress=False)
        sink.close()
        done.set()

    producer = threading.Thread(target=produce, daemon=True)
    consumer = make_consumer(settings.kafka, group_id=f"live-{uuid.uuid4()}",
                             max_poll_records=settings.engine.poll_max_records)
    engine = Engine(city, settings, consumer, [KafkaSink.connect(settings.kafka)])
    engine.subscribe()
    producer.start()
    max_lag = 0.0
    deadline = time.monotonic() + 180
    while not done.is_set() and time.monotonic() < deadline:
        engine.step()
        max_lag = max(max_lag, engine.metrics.gauge("flowcast_consumer_lag_total") or 0.0)
    engine.close()
    q = engine.metrics.quantiles("flowcast_close_to_ack_seconds")
    readings = _processed(engine)
    print(f"\nlive JSON, {N_SENSORS} sensors every {REPORT_S} s at 60x: {readings:,.0f} "
          f"readings; close->ack p50 {q.get(0.5, 0) * 1000:.0f} ms, p99 "
          f"{q.get(0.99, 0) * 1000:.0f} ms; largest lag {max_lag:,.0f} records")
    assert readings > 0 and q
