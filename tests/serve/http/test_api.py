"""The HTTP API on a real uvicorn server (free port): every endpoint, the bearer token, 4xx
answers with a message, server-sent events, readiness and metrics."""

from __future__ import annotations

import queue
import re
import threading
from typing import Any

import httpx
import orjson
import pytest
from live_harness import TOKEN, condition_records, live_settings, wait_for

from flowcast.errors import FlowcastUserError
from flowcast.serve.http import HttpServer, create_app
from flowcast.serve.http.app import STATIC_DIR
from serve.http.served import Served, T, samples
from serve.http.served import error as _error


def test_health_openapi_and_no_remote_docs(served: Served) -> None:
    assert served.client.get("/healthz").json() == {"status": "ok"}
    spec = served.client.get("/openapi.json").json()
    for path in ("/api/conditions", "/api/conditions/{segment}", "/api/screens",
                 "/api/screens/{screen_id}", "/api/spots", "/api/spots/{spot}", "/api/alerts",
                 "/api/alerts/{identifier}/ack", "/api/events", "/api/city/geometry",
                 "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    assert served.client.get("/docs").status_code == 404  # Swagger UI would need the internet


def test_conditions_and_filters(served: Served) -> None:
    body = served.client.get("/api/conditions").json()
    assert body["count"] == served.city.n_segments == len(body["conditions"])
    assert body["conditions"] == served.view.conditions()
    jammed = served.client.get("/api/conditions", params={"min_level": 5}).json()
    assert [c["segment"] for c in jammed["conditions"]] == ["G0001"]
    region = str(served.city.regions[0])
    assert served.client.get("/api/conditions", params={"region": region}).json()["count"] \
        == served.city.n_segments
    assert "R9" in _error(served.client.get("/api/conditions", params={"region": "R9"}), 400)
    assert "min_level" in _error(served.client.get("/api/conditions?min_level=9"), 422)
    assert "min_level" in _error(served.client.get("/api/conditions?min_level=high"), 422)
    one = served.client.get("/api/conditions/G0001").json()
    assert one["segment"] == "G0001" and one["now"]["level"] == 5
    assert "not in city" in _error(served.client.get("/api/conditions/NOPE"), 404)


def test_condition_of_a_segment_without_data_is_404(served: Served) -> None:
    fresh = Served(served.settings, feed=False)
    try:
        assert "no condition" in _error(fresh.client.get("/api/conditions/G0001"), 404)
        assert fresh.client.get("/api/conditions").json() == {"count": 0, "conditions": []}
    finally:
        fresh.close()


def test_screens(served: Served) -> None:
    screens = served.client.get("/api/screens").json()["screens"]
    assert [s["screen"] for s in screens] == [s.id for s in served.city.screens]
    screen = served.client.get(f"/api/screens/{screens[0]['screen']}").json()
    assert screen["issued_at"] == T
    assert [r["rank"] for r in screen["routes"]] == list(range(1, len(screen["routes"]) + 1))
    assert screen["routes"][0]["advice"] == "take"
    assert "VMS01" in _error(served.client.get("/api/screens/NOPE"), 404)


def test_spots_with_todays_curve(served: Served) -> None:
    spots = served.client.get("/api/spots").json()["spots"]
    assert [s["spot"] for s in spots] == served.city.spot_ids.tolist()
    assert all(s["saturation_now"] == 0.7 and s["saturation_peak"] == 0.95 for s in spots)
    one = served.client.get("/api/spots/holiday-beach").json()
    assert [p["issued_at"] for p in one["curve"]] == [T, T + 900_000, T + 1_800_000]
    assert one["alert"]["identifier"] == served.active[0].identifier
    assert "nowhere" in _error(served.client.get("/api/spots/nowhere"), 404)


def test_alerts_active_and_cancelled(served: Served) -> None:
    active = served.client.get("/api/alerts").json()["alerts"]
    assert [(a["spot"], a["status"]) for a in active] == [("holiday-beach", "active")]
    assert [m["identifier"] for m in active[0]["messages"]] == [
        m.identifier for m in served.active]
    both = served.client.get("/api/alerts", params={"include": "cancelled"}).json()["alerts"]
    assert [(a["spot"], a["status"]) for a in both] == [
        ("holiday-beach", "active"), ("qilou-old-street", "cancelled")]
    assert both[1]["history"][-1]["msgType"] == "Cancel"
    assert "include" in _error(served.client.get("/api/alerts?include=everything"), 422)
    one = served.client.get(f"/api/alerts/{served.active[-1].identifier}").json()
    assert one["identifier"] == served.active[0].identifier
    assert _error(served.client.get("/api/alerts/flowcast-x-1-0"), 404)


def test_acknowledging_needs_the_token(served: Served) -> None:
    latest = served.active[-1].identifier
    url = f"/api/alerts/{latest}/ack"
    body = {"by": "duty officer", "note": "gates told"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}):
        response = served.client.post(url, json=body, headers=headers)
        _error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert served.view.alert(latest)["acks"] == []  # nothing changed
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert "flowcast-nope" in _error(
        served.client.post("/api/alerts/flowcast-nope-1-0/ack", json=body, headers=auth), 404)
    bad = served.client.post(url, content=b"{not json", headers=auth | {
        "Content-Type": "application/json"})
    assert "json" in _error(bad, 422).lower()
    assert _error(served.client.post(url, json={"by": "x", "colour": "red"}, headers=auth), 422)
    assert _error(served.client.post(url, json={"by": ""}, headers=auth), 422)
    assert served.view.alert(latest)["acks"] == []
    done = served.client.post(url, json=body, headers=auth)
    assert done.status_code == 200, done.text
    ack = done.json()["ack"]
    assert (ack["by"], ack["note"], ack["message"]) == ("duty officer", "gates told", latest)
    assert done.json()["alert"]["acknowledged"] is True
    assert served.client.get("/api/alerts").json()["alerts"][0]["acks"] == [ack]


def test_an_empty_configured_token_refuses_every_acknowledgement() -> None:
    s = Served(live_settings(token=""))
    try:
        identifier = s.active[-1].identifier
        message = _error(s.client.post(f"/api/alerts/{identifier}/ack", json={},
                                       headers={"Authorization": "Bearer"}), 401)
        assert "http.token" in message
        _error(s.client.post(f"/api/alerts/{identifier}/ack", json={},
                             headers={"Authorization": "Bearer anything"}), 401)
        assert s.view.alert(identifier)["acks"] == []
    finally:
        s.close()


def _sse_lines(url: str, out: queue.Queue[str], stop: threading.Event) -> None:
    with httpx.Client(timeout=httpx.Timeout(10, read=5)) as client, \
            client.stream("GET", f"{url}/api/events") as response:
        out.put(f"status {response.status_code} {response.headers['content-type']}")
        for line in response.iter_lines():
            out.put(line)
            if stop.is_set():
                return


def test_events_stream_new_messages_and_keepalives(served: Served) -> None:
    lines: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(target=_sse_lines, args=(served.url, lines, stop), daemon=True)
    thread.start()
    assert lines.get(timeout=10).startswith("status 200 text/event-stream")
    wait_for(lambda: served.view.stats() and served.server.app.state.hub.clients == 1,
             what="the SSE client to subscribe")
    key, value = condition_records(served.city, served.settings, T + 300_000, 33.0,
                                   ["G0002"])[0]
    served.view.apply(served.settings.topics.road_conditions, key, value)
    got: list[str] = []
    while "event: condition" not in got:
        got.append(lines.get(timeout=10))
    data = lines.get(timeout=10)
    assert data.startswith("data: ") and orjson.loads(data[6:]) == orjson.loads(value)
    # silence: a keepalive comment every sse_keepalive_s (0.5 s here)
    while (line := lines.get(timeout=10)) != ": keepalive":
        got.append(line)
    # an acknowledgement is an event too
    served.view.acknowledge(served.active[-1].identifier, "sse test")
    while (line := lines.get(timeout=10)) != "event: ack":
        pass
    assert orjson.loads(lines.get(timeout=10)[6:])["by"] == "sse test"
    stop.set()


def test_readyz_flips_once_the_first_condition_arrives() -> None:
    s = Served(live_settings(), feed=False)
    try:
        assert s.client.get("/readyz").status_code == 503
        assert s.client.get("/healthz").status_code == 200
        key, value = condition_records(s.city, s.settings, T, 50.0, ["G0000"])[0]
        s.view.apply(s.settings.topics.road_conditions, key, value)
        ready = s.client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True}
    finally:
        s.close()


def test_metrics_text(served: Served) -> None:
    response = served.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'flowcast_readings_total{topic="road"} 42' in text
    values = samples(text)  # prometheus-client writes 1 as 1.0: compare values, not digits
    assert values["flowcast_view_alerts_active", ()] == 1
    assert values["flowcast_view_screens", ()] == len(served.city.screens)
    assert re.search(r'flowcast_view_messages_total\{kind="condition"\} \d+', text)
    assert "# TYPE flowcast_view_messages_total counter" in text


def test_pages_and_static_files_are_local(served: Served) -> None:
    for page in ("/screen", "/bureau"):
        response = served.client.get(page)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        assert "/static/common.js" in response.text
    assert served.client.get("/", follow_redirects=False).headers["location"] == "/screen"
    files = sorted(p.name for p in STATIC_DIR.iterdir())
    assert {"screen.html", "bureau.html", "screen.js", "bureau.js", "common.js",
            "style.css"} <= set(files)
    assert all(p.is_file() for p in STATIC_DIR.iterdir()), "static files stay flat"
    for name in files:
        assert served.client.get(f"/static/{name}").status_code == 200
        text = (STATIC_DIR / name).read_text()
        remote = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text)
        assert [u for u in remote if "www.w3.org/2000/svg" not in u] == [], name
        assert "@import" not in text and "fonts.googleapis" not in text
    geometry = served.client.get("/api/city/geometry").json()
    assert len(geometry["segments"]) == served.city.n_segments
    assert all(len(s["coords"]) >= 2 for s in geometry["segments"])
    assert geometry["screens"][0]["routes"][0]["segments"]


def test_a_port_in_use_is_a_user_error(served: Served) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    with pytest.raises(FlowcastUserError, match="another --port"):
        HttpServer(create_app(served.view, served.settings), "127.0.0.1", port).start()


def test_served_messages_match_the_view(served: Served) -> None:
    """The API answers what the view holds, byte for byte after JSON decoding."""
    body: dict[str, Any] = served.client.get("/api/screens/VMS01").json()
    assert body == served.view.screen("VMS01")
