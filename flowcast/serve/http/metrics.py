"""``/metrics``: the engine's metrics, then the live view's and the SSE hub's, all written by
``prometheus_client`` (text format 0.0.4).

The view's numbers are not kept twice: :class:`ViewCollector` reads :meth:`LiveView.stats` and
:attr:`EventHub.clients` at scrape time and yields them as metric families.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from flowcast.engine.metrics import Metrics
from flowcast.serve.http.events import EventHub
from flowcast.serve.view import LiveView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ViewCollector(Collector):
    """The live view's gauges and counters and the number of SSE clients, read per scrape."""

    def __init__(self, view: LiveView, hub: EventHub) -> None:
        self.view = view
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        """``flowcast_view_*`` and ``flowcast_http_sse_clients`` as they are now."""
        stats = self.view.stats()
        yield GaugeMetricFamily("flowcast_view_alerts_active",
                                "Saturation alerts active now; unit: alerts",
                                value=stats["alerts_active"])
        yield GaugeMetricFamily("flowcast_view_screens",
                                "Guidance screens with a route ranking; unit: screens",
                                value=stats["screens"])
        yield GaugeMetricFamily("flowcast_view_segments",
                                "Segments with a road condition; unit: segments",
                                value=stats["segments"])
        applied = CounterMetricFamily("flowcast_view_messages_total",
                                      "Output messages the live view took, by kind (stale, "
                                      "duplicate: older or repeated ones it skipped); "
                                      "unit: messages",
                                      labels=["kind"])
        for kind, count in sorted(stats["applied"].items()):
            applied.add_metric([kind], count)
        yield applied
        rejected = CounterMetricFamily("flowcast_view_rejected_total",
                                       "Output records the live view refused, by reason; "
                                       "unit: records", labels=["reason"])
        for reason, count in sorted(stats["rejected"].items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield GaugeMetricFamily("flowcast_http_sse_clients",
                                "Server-sent-event clients connected now; unit: clients",
                                value=self.hub.clients)


class MetricsPage:
    """The text of ``/metrics``: ``metrics.render()`` (the engine's, when given), then the
    view's (:class:`ViewCollector`, in a registry of its own)."""

    def __init__(self, view: LiveView, hub: EventHub, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ViewCollector(view, hub))

    def render(self) -> str:
        """Every metric in the Prometheus text exposition format (version 0.0.4)."""
        engine = self.metrics.render() if self.metrics is not None else ""
        return (engine if engine.strip() else "") + generate_latest(self.registry).decode()
