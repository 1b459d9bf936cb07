"""The demo's pieces: its clock, the clocking sink, the terminal report, settings, ports."""

from __future__ import annotations

import socket

import pytest

from flowcast.cli.demo.app import (
    ClockingSink,
    DemoOptions,
    StreamClock,
    TerminalReport,
    check_port_free,
    demo_settings,
)
from flowcast.config import Settings
from flowcast.errors import FlowcastUserError
from flowcast.ingest.simulator import generate_city
from flowcast.transport.bus import Bus
from flowcast.transport.sinks import BusSink


def test_stream_clock_follows_sent_records_and_never_goes_back() -> None:
    bus = Bus(default_partitions=1)
    clock = StreamClock(1_000)
    sink = ClockingSink(BusSink(bus), clock)
    sink.send("t", b"k", b"v", None, 5_000)
    assert clock.now_ms() == 5_000
    sink.send("t", b"k", b"v", None, 3_000)  # an older record does not move time back
    sink.send("t", b"k", b"v", None, None)
    assert clock.now_ms() == 5_000
    consumer = bus.consumer("t", auto_offset_reset="earliest")
    records = [r for batch in consumer.poll(timeout_ms=100).values() for r in batch]
    assert len(records) == 3


def test_demo_settings_publish_latest_and_make_a_token() -> None:
    settings = demo_settings(Settings(), DemoOptions(port=0))
    assert settings.engine.start_from == "latest"
    assert settings.http.port == 0
    assert len(settings.http.token) >= 12
    assert settings.time.idle_timeout_s >= 120


def test_demo_settings_on_kafka_use_topics_and_a_group_of_the_run() -> None:
    settings = demo_settings(Settings(), DemoOptions(kafka="127.0.0.1:9"))
    assert settings.kafka.bootstrap == "127.0.0.1:9"
    assert settings.topics.road_readings.startswith("flowcast-demo-")
    assert settings.topics.road_readings.endswith(".flowcast.road.readings")
    assert settings.kafka.group_id.startswith("flowcast-demo-")
    assert settings.topics.spot_alerts in settings.topics.compacted()


def test_a_busy_port_is_a_user_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(FlowcastUserError, match=f"port {port} .* already in use"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", 0)  # any free port: nothing to check


def test_terminal_report_prints_alerts_and_a_status_per_spot_cycle() -> None:
    city = generate_city(40, 2, seed=3)
    lines: list[str] = []
    report = TerminalReport(city, lines.append)
    segment = str(city.segment_ids[0])
    report("condition", {"segment": segment, "issued_at": 0, "model": "m",
                         "now": {"level": 4}})
    for spot, sat in zip(city.spot_ids.tolist(), (0.5, 0.9), strict=True):
        report("spot", {"spot": spot, "issued_at": 900_000, "now": {"saturation": 0.3},
                        "forecast": [{"saturation": sat}]})
    assert len(lines) == 1 and "1 moderate" in lines[0] and "peak 90% forecast" in lines[0]
    spot = str(city.spot_ids[1])
    alert = {"identifier": "flowcast-x-1", "msgType": "Alert", "sent": "2026-10-02T08:30:00+08:00",
             "info": {"severity": "Moderate", "headline": f"{spot} expected at 90%",
                      "instruction": "Stop ticket sales.",
                      "parameter": [{"valueName": "spotId", "value": spot}]}}
    report("alert", alert)
    assert "ALERT RAISED (Moderate)" in lines[1] and "Stop ticket sales." in lines[2]
    assert report.summary.alerts == [{"msgType": "Alert", "spot": spot, "severity": "Moderate",
                                      "identifier": "flowcast-x-1",
                                      "sent": "2026-10-02T08:30:00+08:00"}]
    assert report.summary.conditions == 1 and report.summary.segments == {segment}
