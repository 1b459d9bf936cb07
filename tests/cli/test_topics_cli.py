"""``flowcast topics create`` and ``flowcast topics list`` end to end (real broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcast.cli import main
from flowcast.config import Settings
from flowcast.transport.devbroker.ports import free_port


def _config_file(tmp_path: Path, settings: Settings) -> Path:
    topics = settings.topics
    lines = ["[topics]"] + [
        f'{key} = "{getattr(topics, key)}"'
        for key in ("road_readings", "spot_readings", "road_conditions", "spot_forecasts",
                    "spot_alerts", "deadletter")
    ]
    path = tmp_path / "flowcast.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.kafka
def test_create_twice_then_list(kafka_settings: Settings, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    config = _config_file(tmp_path, kafka_settings)
    bootstrap = kafka_settings.kafka.bootstrap
    args = ["topics", "create", "--kafka", bootstrap, "--config", str(config),
            "--partitions", "2", "--retention-hours", "5"]

    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    names = kafka_settings.topics.all_names()
    assert all(line.startswith("created ") for line in out[:6])
    assert [line.split()[1] for line in out[:6]] == names
    alerts = kafka_settings.topics.spot_alerts
    assert f"created {alerts} (2 partitions, cleanup.policy=compact)" in out
    assert out[-1] == f"6 created, 0 already existed at {bootstrap}"

    assert main([*args[:-4], "--partitions", "4"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == f"0 created, 6 already existed at {bootstrap}"
    warnings = captured.err.splitlines()
    assert len(warnings) == 6 and all("fewer than the 4 asked" in w for w in warnings)

    assert main(["topics", "list", "--kafka", bootstrap, "--config", str(config)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[0] for line in listed) == sorted(names)
    assert all("partitions=2" in line for line in listed)
    road = next(line for line in listed if line.startswith(kafka_settings.topics.road_readings))
    assert road.endswith("cleanup.policy=delete, retention 5 h")


@pytest.mark.kafka
def test_list_names_missing_topics(kafka_settings: Settings, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = _config_file(tmp_path, kafka_settings)
    assert main(["topics", "list", "--kafka", kafka_settings.kafka.bootstrap,
                 "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{name}  missing (run 'flowcast topics create')"
                   for name in kafka_settings.topics.all_names()]


def test_unreachable_broker_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    code = main(["topics", "create", "--kafka", address, "--timeout", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"error: cannot reach Kafka at {address}: connection refused")
    assert err.rstrip().endswith("start one with 'flowcast broker' or pass --kafka")


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--partitions", "0", "--partitions must be a positive whole number"),
    ("--partitions", "two", "--partitions must be a positive whole number"),
    ("--retention-hours", "-1", "--retention-hours must be a positive number"),
    ("--kafka", "localhost", "Kafka bootstrap 'localhost' is not HOST:PORT"),
])
def test_bad_flags_are_one_line_errors(flag: str, value: str, message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "create", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {message}")
