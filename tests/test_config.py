"""Settings: defaults, the TOML file, FLOWCAST_* environment overrides and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcast.config import load_settings
from flowcast.errors import FlowcastUserError


def test_defaults_follow_the_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no flowcast.toml here
    settings = load_settings(environ={})
    assert settings.topics.all_names() == [
        "flowcast.road.readings", "flowcast.spot.readings", "flowcast.road.conditions",
        "flowcast.spot.forecasts", "flowcast.spot.alerts", "flowcast.deadletter",
    ]
    assert settings.topics.compacted() == {"flowcast.spot.alerts"}
    assert settings.time.road_bucket_s == 300 and settings.time.spot_bucket_s == 900


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "flowcast.toml"
    path.write_text('[kafka]\nbootstrap = "file:1"\ngroup_id = "g-file"\n'
                    '[topics]\npartitions = 3\nroad_readings = "city.road"\n', encoding="utf-8")
    environ = {"FLOWCAST_KAFKA_BOOTSTRAP": "env:2", "FLOWCAST_TOPICS_PARTITIONS": "12",
               "FLOWCAST_UNRELATED": "x", "HOME": "/root"}
    settings = load_settings(path, environ=environ)
    assert settings.kafka.bootstrap == "env:2"
    assert settings.kafka.group_id == "g-file"
    assert settings.topics.partitions == 12
    assert settings.topics.road_readings == "city.road"
    flags = load_settings(path, environ=environ,
                          overrides={"kafka": {"bootstrap": "flag:3", "group_id": None}})
    assert flags.kafka.bootstrap == "flag:3"
    assert flags.kafka.group_id == "g-file"  # a flag left unset does not override


def test_invalid_values_name_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "flowcast.toml"
    path.write_text("[topics]\npartitions = 0\n", encoding="utf-8")
    with pytest.raises(FlowcastUserError, match=r"topics\.partitions"):
        load_settings(path, environ={})
    with pytest.raises(FlowcastUserError, match=r"time\.road_bucket_s"):
        load_settings(path=None, environ={"FLOWCAST_TIME_ROAD_BUCKET_S": "abc"})
    with pytest.raises(FlowcastUserError, match="divide a day"):
        load_settings(path=None, environ={"FLOWCAST_TIME_ROAD_BUCKET_S": "7"})
    path.write_text("[kafka]\nbogus = 1\n", encoding="utf-8")
    with pytest.raises(FlowcastUserError, match=r"kafka\.bogus"):
        load_settings(path, environ={})


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FlowcastUserError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[kafka\n", encoding="utf-8")
    with pytest.raises(FlowcastUserError, match="not valid TOML"):
        load_settings(bad, environ={})
