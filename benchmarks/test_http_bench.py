"""The HTTP API over a live view of a 10k-segment city: request latency of the read endpoints
through a real uvicorn server (one keep-alive httpx client), and the server-sent-event fan-out
latency from :meth:`LiveView.apply` of a new condition to its receipt by 20 concurrent clients.

The view holds one issue time of every segment of ``generate_city(11_000, 5, seed=3)`` (10,072
segments, the messages of :func:`test_view_bench.condition_batch`) and a forecast for each of
its 5 spots; ``/metrics`` renders an engine-like set of counters and a full latency summary
before the view's own gauges.

The SSE clients run in a separate process (one asyncio loop, 20 ``httpx`` streams), so they do
not share the server's interpreter lock; receipt and apply times are both ``CLOCK_MONOTONIC``.
Each condition is applied 20 ms after the previous one, so the figure is the latency of one
message through an idle server, not of a burst.

Run: ``.venv/bin/pytest benchmarks/test_http_bench.py --benchmark-only -s``. Figures are printed
and kept in ``extra_info``; nothing asserts a time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from test_view_bench import FIRST_ISSUE_MS, N_SENSORS, condition_batch
from timing import Timed

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.ingest.simulator import generate_city
from flowcast.publish.roads.screens import ScreenRanker
from flowcast.publish.spots.forecasts import SpotForecasts, spot_forecast_messages
from flowcast.serve.http import HttpServer, create_app
from flowcast.serve.view import LiveView

SSE_CLIENTS = 20
SSE_MESSAGES = 100
SSE_GAP_S = 0.02

SSE_CLIENT_SCRIPT = r"""
import asyncio, sys, time
import httpx, orjson

async def follow(url, want, connected, received):
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as http:
        async with http.stream("GET", url + "/api/events") as response:
            kind = None
            async for line in response.aiter_lines():
                if line == ": connected":
                    connected.append(1)
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "condition":
                    at = time.monotonic_ns()
                    received[orjson.loads(line[6:])["issued_at"]] = at
                    if len(received) >= want:
                        return

async def main(url, clients, want):
    connected, results = [], [dict() for _ in range(clients)]
    tasks = [asyncio.create_task(follow(url, want, connected, r)) for r in results]
    while len(connected) < clients:
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    sys.stdout.buffer.write(orjson.dumps(results, option=orjson.OPT_NON_STR_KEYS) + b"\n")

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(N_SENSORS, 5, seed=3)


def _spot_records(city: City, issued_at_ms: int) -> list[tuple[bytes, bytes]]:
    """A forecast of every spot: 70 % of capacity now, rising to 95 % over six hours."""
    capacity = city.spot_capacity_instant.astype(np.float64)
    horizons = np.arange(60, 361, 60)
    ramp = np.linspace(0.7, 0.95, len(horizons))
    return spot_forecast_messages(SpotForecasts(
        spot_ids=city.spot_ids, issued_at_ms=issued_at_ms, horizons_min=horizons,
        capacity_instant=capacity, visitors=np.round(capacity * 0.7),
        arrivals=np.full(city.n_spots, 80.0),
        forecast_visitors=np.round(capacity[:, None] * ramp[None, :]), model="bench"))


def _engine_like_metrics() -> Metrics:
    """Counters per kind and partition and a full close->ack summary, as a running engine has."""
    metrics = Metrics()
    rng = np.random.default_rng(1)
    for partition in range(6):
        metrics.inc("flowcast_outputs_total", 10_072.0, topic="conditions",
                    partition=str(partition))
        metrics.set("flowcast_watermark_lag_seconds", 30.0, partition=str(partition))
    metrics.inc("flowcast_readings_total", 3.3e6, kind="road")
    metrics.inc("flowcast_readings_total", 1.2e4, kind="spot")
    metrics.inc("flowcast_buckets_closed_total", 120, kind="road")
    for value in rng.gamma(2.0, 0.05, 2048):
        metrics.observe("flowcast_close_to_ack_seconds", float(value))
    return metrics


@pytest.fixture(scope="module")
def served(city: City) -> Iterator[tuple[str, LiveView, Settings]]:
    """A live view holding every segment's condition and every spot's forecast, served."""
    settings = Settings()
    view = LiveView(city, settings)
    topics = settings.topics
    for key, value in condition_batch(city, settings, FIRST_ISSUE_MS, np.random.default_rng(3)):
        view.apply(topics.road_conditions, key, value)
    for key, value in _spot_records(city, FIRST_ISSUE_MS):
        view.apply(topics.spot_forecasts, key, value)
    server = HttpServer(create_app(view, settings, metrics=_engine_like_metrics()))
    url = server.start()
    try:
        yield url, view, settings
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(served: tuple[str, LiveView, Settings]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=60.0) as http:
        yield http


def _get(client: httpx.Client, path: str) -> httpx.Response:
    response = client.get(path)
    response.raise_for_status()
    return response


# (label, path, rounds): the full list is ~9 MB of JSON, so it gets fewer rounds
ENDPOINTS = [("conditions_all", "/api/conditions", 5),
             ("condition_one", "/api/conditions/G05000", 300),
             ("spots", "/api/spots", 300),
             ("metrics", "/metrics", 300)]


@pytest.mark.parametrize(("label", "path", "rounds"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_get_latency(benchmark: Any, client: httpx.Client, city: City, label: str, path: str,
                     rounds: int) -> None:
    _get(client, path)  # warm-up, outside the figures
    get = Timed(_get)
    response = benchmark.pedantic(get, args=(client, path), rounds=rounds, iterations=1)
    ms = np.array(get.seconds) * 1000
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    size = len(response.content)
    benchmark.extra_info.update({"path": path, "requests": len(ms), "p50_ms": p50,
                                 "p99_ms": p99, "bytes": size})
    print(f"\nGET {path}: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(ms)} requests "
          f"({size / 1024:,.1f} KiB)")
    if label == "conditions_all":
        body = response.json()
        assert body["count"] == len(city.segment_ids) == len(body["conditions"])
    elif label == "condition_one":
        assert response.json()["segment"] == "G05000"
    elif label == "spots":
        spots = response.json()["spots"]
        assert [s["spot"] for s in spots] == city.spot_ids.tolist()
        assert all(s["forecast"] is not None for s in spots)
    else:
        assert f"flowcast_view_segments {len(city.segment_ids)}" in response.text
        assert 'flowcast_close_to_ack_seconds_bucket{le="1.0"}' in response.text


def _fan_out(url: str, view: LiveView, settings: Settings, template: dict[str, Any]
             ) -> tuple[dict[int, int], list[dict[int, int]]]:
    """Start the client process, apply ``SSE_MESSAGES`` new conditions of one segment; the
    apply time per issue time and each client's receipt time per issue time (monotonic ns)."""
    proc = subprocess.Popen([sys.executable, "-c", SSE_CLIENT_SCRIPT, url, str(SSE_CLIENTS),
                             str(SSE_MESSAGES)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == b"ready", f"SSE clients did not connect: {line!r}"
        applied: dict[int, int] = {}
        issued = int(template["issued_at"])
        key = str(template["segment"]).encode()
        for _ in range(SSE_MESSAGES):
            issued += 300_000
            value = orjson.dumps(template | {"issued_at": issued})
            applied[issued] = time.monotonic_ns()
            assert view.apply(settings.topics.road_conditions, key, value)
            time.sleep(SSE_GAP_S)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    received = [{int(k): v for k, v in r.items()} for r in orjson.loads(out)]
    return applied, received


def test_sse_fan_out_latency(benchmark: Any, served: tuple[str, LiveView, Settings],
                             city: City) -> None:
    url, view, settings = served
    # a segment on no screen route, so each apply sends exactly one event
    watched = ScreenRanker(city).watched
    segment = next(s for s in city.segment_ids.tolist() if s not in watched)
    template = view.condition(segment)
    assert template is not None
    applied, received = benchmark.pedantic(_fan_out, args=(url, view, settings, template),
                                           rounds=1, iterations=1)
    assert len(received) == SSE_CLIENTS
    assert all(r.keys() == applied.keys() for r in received)
    ms = np.array([(r[t] - applied[t]) / 1e6 for r in received for t in applied])
    last = np.array([max(r[t] for r in received) - applied[t] for t in applied]) / 1e6
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    benchmark.extra_info.update({
        "clients": SSE_CLIENTS, "messages": SSE_MESSAGES, "deliveries": int(ms.size),
        "p50_ms": p50, "p99_ms": p99, "max_ms": float(ms.max()),
        "all_clients_p50_ms": float(np.percentile(last, 50)),
        "all_clients_p99_ms": float(np.percentile(last, 99))})
    print(f"\nSSE fan-out, apply -> receipt, {SSE_CLIENTS} clients x {SSE_MESSAGES} messages: "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {ms.max():.2f} ms; last of the "
          f"{SSE_CLIENTS} clients: p50 {np.percentile(last, 50):.2f} ms, "
          f"p99 {np.percentile(last, 99):.2f} ms")
    assert np.all(ms > 0)
