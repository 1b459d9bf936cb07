"""``GET /api/events?once``: the view's current state as server-sent events, an ``end`` event,
and the end of the stream (what lets a headless browser's virtual-time budget run out)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from live_harness import alert_lifecycle, apply_records, live_settings

from flowcast.ingest.simulator import generate_city
from flowcast.publish.spots.cap import alert_messages
from flowcast.serve.http import create_app
from flowcast.serve.http.events import ONCE_RETRY_MS, current_state
from flowcast.serve.view import LiveView
from serve.http.served import T, feed

pytestmark = pytest.mark.timeout(60)  # a stream that never ends fails instead of hanging


def _events(body: str) -> list[tuple[str, Any]]:
    """``(kind, data)`` of every event of a server-sent-event body, in order."""
    out = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        kind = next((line[7:] for line in lines if line.startswith("event: ")), None)
        data = next((line[6:] for line in lines if line.startswith("data: ")), None)
        if kind is not None and data is not None:
            out.append((kind, orjson.loads(data)))
    return out


def _view() -> LiveView:
    return LiveView(generate_city(30, 3, seed=5), live_settings())


@pytest.fixture(scope="module")
def fed() -> Iterator[tuple[LiveView, TestClient]]:
    """A view fed with conditions (so ranked screens), spot forecasts, an active alert (with
    an acknowledgement) and a cancelled one, behind the app under FastAPI's TestClient."""
    view = _view()
    active, _ = feed(view)
    view.acknowledge(active[-1].identifier, "duty officer")
    with TestClient(create_app(view, view.settings)) as client:
        yield view, client


@pytest.mark.parametrize("query", ["once", "once=", "once=1", "once=true"])
def test_once_sends_the_current_state_and_ends(fed: tuple[LiveView, TestClient],
                                               query: str) -> None:
    view, client = fed
    response = client.get(f"/api/events?{query}")  # returns only once the stream has ended
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith(f"retry: {ONCE_RETRY_MS}\n")
    events = _events(response.text)
    assert events[-1] == ("end", {"events": len(events) - 1})
    assert events[:-1] == [(kind, orjson.loads(orjson.dumps(payload)))
                           for kind, payload in current_state(view)]
    kinds = Counter(kind for kind, _ in events)
    assert kinds == {"condition": view.city.n_segments, "screen": len(view.city.screens),
                     "spot": view.city.n_spots, "alert": 2, "end": 1}
    alerts = {data["alert"]["status"]: data for kind, data in events if kind == "alert"}
    assert alerts["active"]["alert"]["acks"][0]["by"] == "duty officer"
    assert alerts["cancelled"]["message"]["msgType"] == "Cancel"
    assert client.app.state.hub.clients == 0  # a once stream never subscribes


def test_the_state_events_carry_what_the_api_answers(fed: tuple[LiveView, TestClient]) -> None:
    _, client = fed
    events = _events(client.get("/api/events?once").text)

    def of(kind: str) -> list[Any]:
        return [data for k, data in events if k == kind]

    assert of("condition") == client.get("/api/conditions").json()["conditions"]
    assert of("screen") == client.get("/api/screens").json()["screens"]
    assert all(s["issued_at"] == T for s in of("screen"))
    assert of("spot") == [s["forecast"] for s in client.get("/api/spots").json()["spots"]]
    alerts = client.get("/api/alerts", params={"include": "cancelled"}).json()["alerts"]
    assert [a["alert"] for a in of("alert")] == alerts


def test_an_empty_view_sends_only_the_end() -> None:
    view = _view()
    with TestClient(create_app(view, view.settings)) as client:
        response = client.get("/api/events?once")
    assert _events(response.text) == [("end", {"events": 0})]


def test_once_takes_no_other_value(fed: tuple[LiveView, TestClient]) -> None:
    _, client = fed
    response = client.get("/api/events?once=false")
    assert response.status_code == 422 and "once" in response.json()["error"]


def test_a_cancelled_alert_alone_is_state_too() -> None:
    view = _view()
    cancelled = alert_lifecycle(view.city, "qilou-old-street", T)
    apply_records(view, view.settings.topics.spot_alerts, alert_messages(cancelled))
    [(kind, payload)] = current_state(view)
    assert kind == "alert" and payload["alert"]["status"] == "cancelled"
    assert payload["message"]["identifier"] == cancelled[-1].identifier
