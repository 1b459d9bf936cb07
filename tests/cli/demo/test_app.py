"""The demo's run set-up: its settings, and a busy port refused up front."""

from __future__ import annotations

import socket

import pytest

from flowcast.cli.demo.app import DemoOptions, check_port_free, demo_settings
from flowcast.config import Settings
from flowcast.errors import FlowcastUserError


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
