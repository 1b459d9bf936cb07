"""The serving set-up in one call: the live view fed from the output topics over the in-process
bus, the API on a free port, screen rankings computed and served here (never written to the
conditions topic), readiness, listeners, and a busy port refused with nothing left running."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import httpx
import pytest
from kafka.errors import IllegalStateError
from live_harness import TZ, condition_records, live_settings, wait_for

from flowcast.errors import FlowcastUserError
from flowcast.ingest.simulator import generate_city
from flowcast.serve.service import Service
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink

T = int(dt.datetime(2026, 10, 2, 9, 0, tzinfo=TZ).timestamp() * 1000)


def _bus(topics: list[str]) -> Bus:
    bus = Bus(default_partitions=2)
    for topic in topics:
        bus.create_topic(topic)
    return bus


def test_service_serves_the_rankings_it_computes_from_the_conditions() -> None:
    city = generate_city(30, 3, seed=5)
    settings = live_settings()
    bus = _bus(settings.topics.all_names())
    kinds: list[str] = []
    service = Service.start(city, settings, bus.consumer(), port=0, clock_ms=lambda: T,
                            listeners=[lambda kind, payload: kinds.append(kind)])
    try:
        with httpx.Client(base_url=service.url, timeout=10) as client:
            assert client.get("/readyz").status_code == 503
            sink = BusSink(bus)
            for key, value in condition_records(city, settings, T, 45.0):
                sink.send(settings.topics.road_conditions, key, value, timestamp_ms=T)
            wait_for(lambda: all(s["issued_at"] == T for s in
                                 client.get("/api/screens").json()["screens"]),
                     what="every screen ranked in /api/screens")
            screens = client.get("/api/screens").json()["screens"]
            assert [s["screen"] for s in screens] == [s.id for s in city.screens]
            for screen in screens:
                assert screen == service.view.screen(screen["screen"])
                assert [r["rank"] for r in screen["routes"]] == list(
                    range(1, len(screen["routes"]) + 1))
                assert screen["routes"][0]["advice"] == "take"
            assert client.get("/readyz").status_code == 200
            assert kinds.count("screen") == len(city.screens)
            assert kinds.count("condition") == city.n_segments
    finally:
        service.close()
    assert not service.reader.alive
    # the conditions topic carries segment conditions only: nothing wrote the rankings there
    consumer = bus.consumer(settings.topics.road_conditions, auto_offset_reset="earliest")
    keys = {r.key.decode() for rs in consumer.poll(timeout_ms=100, max_records=100_000).values()
            for r in rs}
    assert keys == set(city.segment_ids.tolist())


def test_service_is_ready_when_the_engine_is_and_closes_as_a_context() -> None:
    city = generate_city(20, 1, seed=1)
    settings = live_settings()
    bus = _bus([])
    engine_ready = {"now": False}
    with Service.start(city, settings, bus.consumer(), port=0,
                       engine_ready=lambda: engine_ready["now"]) as service:
        assert httpx.get(f"{service.url}/readyz", timeout=5).status_code == 503
        engine_ready["now"] = True
        assert httpx.get(f"{service.url}/readyz", timeout=5).status_code == 200
    assert not service.reader.alive


def test_a_busy_port_is_a_user_error_and_leaves_nothing_running() -> None:
    city = generate_city(20, 1, seed=1)
    settings = live_settings()
    started: list[Any] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        consumer = _bus([]).consumer()
        with pytest.raises(FlowcastUserError, match=f"{port}"):
            started.append(Service.start(city, settings, consumer, port=port))
    assert started == []
    with pytest.raises(IllegalStateError, match="closed"):  # the reader stopped and closed it
        consumer.poll()
