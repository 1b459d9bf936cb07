"""``/metrics``: the engine's metrics, then the view's and the SSE hub's, all written by
prometheus-client from the view's stats at scrape time (same names, labels and values as the
hand-written text they replace); every family served has a ``# HELP`` text."""

from __future__ import annotations

from typing import Any

import httpx
from live_harness import LiveCity, wait_for
from prometheus_client.parser import text_string_to_metric_families

from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.serve.http.events import EventHub
from flowcast.serve.http.metrics import MetricsPage
from flowcast.serve.service import Service
from flowcast.serve.view import LiveView
from serve.http.served import Served, samples

STATS: dict[str, Any] = {
    "applied": {"condition": 31, "alert": 4, "spot": 9},
    "rejected": {"undecodable": 2, 'odd "quoted" \\ reason\nsplit': 1},
    "alerts_active": 1, "alerts_closed": 1, "segments": 30, "spots": 3, "screens": 2}

EXPECTED = """\
# HELP flowcast_view_alerts_active Saturation alerts active now; unit: alerts
# TYPE flowcast_view_alerts_active gauge
flowcast_view_alerts_active 1.0
# HELP flowcast_view_screens Guidance screens with a route ranking; unit: screens
# TYPE flowcast_view_screens gauge
flowcast_view_screens 2.0
# HELP flowcast_view_segments Segments with a road condition; unit: segments
# TYPE flowcast_view_segments gauge
flowcast_view_segments 30.0
# HELP flowcast_view_messages_total Output messages the live view took, by kind (stale, \
duplicate: older or repeated ones it skipped); unit: messages
# TYPE flowcast_view_messages_total counter
flowcast_view_messages_total{kind="alert"} 4.0
flowcast_view_messages_total{kind="condition"} 31.0
flowcast_view_messages_total{kind="spot"} 9.0
# HELP flowcast_view_rejected_total Output records the live view refused, by reason; \
unit: records
# TYPE flowcast_view_rejected_total counter
flowcast_view_rejected_total{reason="odd \\"quoted\\" \\\\ reason\\nsplit"} 1.0
flowcast_view_rejected_total{reason="undecodable"} 2.0
# HELP flowcast_http_sse_clients Server-sent-event clients connected now; unit: clients
# TYPE flowcast_http_sse_clients gauge
flowcast_http_sse_clients 0.0
"""


class _Stats(LiveView):
    """A view whose stats are fixed (a label that needs escaping included)."""

    def stats(self) -> dict[str, Any]:
        return STATS


def test_the_view_families_names_labels_and_values(view: LiveView, settings: Settings) -> None:
    fixed = _Stats(view.city, settings)
    text = MetricsPage(fixed, EventHub(1.0)).render()
    assert text == EXPECTED
    values = samples(text)
    assert values["flowcast_view_rejected_total", (("reason", 'odd "quoted" \\ reason\nsplit'),)
                  ] == 1  # the label round-trips: prometheus-client escapes it
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types == {"flowcast_view_alerts_active": "gauge", "flowcast_view_screens": "gauge",
                     "flowcast_view_segments": "gauge", "flowcast_view_messages": "counter",
                     "flowcast_view_rejected": "counter", "flowcast_http_sse_clients": "gauge"}


def test_the_engine_metrics_come_first(view: LiveView) -> None:
    engine = Metrics()
    engine.inc("flowcast_readings_total", 7, topic="road")
    text = MetricsPage(view, EventHub(1.0), engine).render()
    assert text.startswith(engine.render())
    assert text.index("flowcast_readings_total") < text.index("flowcast_view_alerts_active")
    assert "_created" not in text
    empty = MetricsPage(view, EventHub(1.0), Metrics()).render()
    assert empty.startswith("# HELP flowcast_view_alerts_active")


def test_served_metrics_follow_the_view_at_scrape_time(served: Served) -> None:
    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = served.client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return samples(response.text)

    stats = served.view.stats()
    values = scrape()
    assert values["flowcast_readings_total", (("topic", "road"),)] == 42
    assert values["flowcast_view_alerts_active", ()] == stats["alerts_active"] == 1
    assert values["flowcast_view_segments", ()] == stats["segments"] == served.city.n_segments
    assert values["flowcast_view_screens", ()] == stats["screens"] == len(served.city.screens)
    for kind, count in stats["applied"].items():
        assert values["flowcast_view_messages_total", (("kind", kind),)] == count
    assert values["flowcast_http_sse_clients", ()] == 0
    served.view.apply(served.settings.topics.road_conditions, b"G0001", b"\x00not json")
    with httpx.Client(base_url=served.url, timeout=10) as client, \
            client.stream("GET", "/api/events") as events:
        assert events.status_code == 200
        wait_for(lambda: served.server.app.state.hub.clients == 1, what="an SSE client")
        values = scrape()
    assert values["flowcast_http_sse_clients", ()] == 1
    assert values["flowcast_view_rejected_total", (("reason", "undecodable"),)] == 1


PLACEHOLDERS = {"", "Multiprocess metric"}
"""HELP texts that say nothing: prometheus-client's empty default, and its multiprocess one."""

ENGINE_FAMILIES = {
    "flowcast_readings_total", "flowcast_buckets_closed_total", "flowcast_outputs_total",
    "flowcast_close_to_ack_seconds", "flowcast_road_cycle_seconds", "flowcast_spot_cycle_seconds",
    "flowcast_assigned_partitions", "flowcast_consumer_lag", "flowcast_consumer_lag_total",
    "flowcast_broker_connected", "flowcast_alerts_total"}
VIEW_FAMILIES = {
    "flowcast_view_alerts_active", "flowcast_view_screens", "flowcast_view_segments",
    "flowcast_view_messages_total", "flowcast_view_rejected_total", "flowcast_http_sse_clients"}


def _help_and_type(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """``({family: HELP text}, {family: TYPE})`` of a Prometheus text exposition."""
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            name, _, rest = line[7:].partition(" ")
            (helps if line.startswith("# HELP") else types)[name] = rest
    return helps, types


def test_every_family_served_after_an_engine_run_has_a_help_text() -> None:
    live = LiveCity().start(hours=1)
    try:
        with Service.start(live.city, live.settings, live.output_consumer(), port=0,
                           metrics=live.engine.metrics, clock_ms=live.clock.now_ms) as service:
            wait_for(service.view.ready.is_set, what="the first road condition")
            response = httpx.get(f"{service.url}/metrics", timeout=10)
    finally:
        live.close()
    assert response.status_code == 200
    helps, types = _help_and_type(response.text)
    assert types.keys() >= ENGINE_FAMILIES | VIEW_FAMILIES
    bare = sorted(name for name in types
                  if helps.get(name, "").strip() in PLACEHOLDERS or helps[name].strip() == name)
    assert bare == [], f"families served without a # HELP text: {bare}"
    assert [name for name in types if "; unit: " not in helps[name]] == [], \
        "every HELP text ends with its unit"
