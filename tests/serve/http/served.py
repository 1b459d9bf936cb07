"""A live view fed with real messages and served by uvicorn on a free port, for the HTTP tests."""

from __future__ import annotations

import datetime as dt

import httpx
from live_harness import TZ, alert_lifecycle, condition_records, spot_records
from prometheus_client.parser import text_string_to_metric_families

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.ingest.simulator import generate_city
from flowcast.publish.spots.cap import CapAlert, alert_messages
from flowcast.serve.http import HttpServer, create_app
from flowcast.serve.view import LiveView

T = int(dt.datetime(2026, 10, 2, 9, 0, tzinfo=TZ).timestamp() * 1000)


class Served:
    """A view fed with real messages, served by uvicorn on a free port."""

    def __init__(self, settings: Settings, feed: bool = True) -> None:
        self.city: City = generate_city(30, 3, seed=5)
        self.settings = settings
        self.view = LiveView(self.city, settings)
        self.metrics = Metrics()
        self.metrics.inc("flowcast_readings_total", 42, topic="road")
        self.server = HttpServer(create_app(self.view, settings, metrics=self.metrics),
                                 "127.0.0.1", 0)
        self.url = self.server.start()
        self.client = httpx.Client(base_url=self.url, timeout=10)
        self.active: list[CapAlert] = []
        self.cancelled: list[CapAlert] = []
        if feed:
            self.feed()

    def feed(self) -> None:
        self.active, self.cancelled = feed(self.view)

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def feed(view: LiveView) -> tuple[list[CapAlert], list[CapAlert]]:
    """Feed ``view`` (a view of ``generate_city(30, 3, seed=5)``) real messages issued at
    ``T``: every segment at 45 km/h and G0001 jammed, three spot forecasts per spot, an
    active alert at holiday-beach and a cancelled one at qilou-old-street. Returns the two
    alerts' messages."""
    city, settings = view.city, view.settings
    topics = settings.topics
    for key, value in condition_records(city, settings, T, 45.0):
        view.apply(topics.road_conditions, key, value)
    for key, value in condition_records(city, settings, T, 8.0, ["G0001"]):
        view.apply(topics.road_conditions, key, value)
    for n in range(3):
        for key, value in spot_records(city, T + n * 900_000, 0.5 + 0.1 * n, 0.95):
            view.apply(topics.spot_forecasts, key, value)
    active = alert_lifecycle(city, "holiday-beach", T)[:-1]
    cancelled = alert_lifecycle(city, "qilou-old-street", T)
    for key, value in alert_messages(active + cancelled):
        view.apply(topics.spot_alerts, key, value)
    return active, cancelled


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition: ``(name, sorted labels) -> value``."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
