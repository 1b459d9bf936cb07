"""Settings: defaults, the TOML file, FLOWCAST_* environment overrides and flags."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from flowcast.cli import main
from flowcast.config import Settings, load_settings
from flowcast.errors import FlowcastUserError

EXAMPLE = Path(__file__).resolve().parents[1] / "flowcast.toml.example"
# The values flowcast.toml.example sets on purpose (uncommented); every other line shows a default.
DELIBERATE: dict[tuple[str, str], Any] = {
    ("kafka", "bootstrap"): "kafka-1:9092,kafka-2:9092,kafka-3:9092",
    ("topics", "replication_factor"): 3,
}
_SECTION = re.compile(r"^\[([a-z]+)\]$")
_SETTING = re.compile(r"^(# )?([a-z][a-z0-9_]*) = (.+)$")  # "key = value" or "# key = value"


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
               "FLOWCAST_CACHE_DIR": "/tmp/c", "HOME": "/root"}
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


def _section_model(section: str) -> type[BaseModel]:
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def _example_settings() -> dict[tuple[str, str], tuple[bool, Any]]:
    """``(section, key) -> (commented out, value)`` of every setting line of the example."""
    found: dict[tuple[str, str], tuple[bool, Any]] = {}
    section = None
    for number, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if header := _SECTION.match(line):
            section = header[1]
        elif setting := _SETTING.match(line):
            assert section is not None, f"line {number} comes before any [section]"
            name = (section, setting[2])
            assert name not in found, f"{section}.{setting[2]} is listed twice (line {number})"
            found[name] = (setting[1] is not None, tomllib.loads(f"v = {setting[3]}")["v"])
    return found


def test_the_example_lists_every_setting_with_its_default() -> None:
    listed = _example_settings()
    fields = {(section, key) for section in Settings.model_fields
              for key in _section_model(section).model_fields}
    assert not fields - listed.keys(), f"settings missing from {EXAMPLE.name}"
    assert not listed.keys() - fields, f"{EXAMPLE.name} lists settings that do not exist"
    assert {name for name, (commented, _) in listed.items() if not commented} == set(DELIBERATE)
    defaults = Settings()
    for (section, key), (commented, value) in listed.items():
        if not commented:
            continue
        default = getattr(getattr(defaults, section), key)
        shown = getattr(_section_model(section).model_validate({key: value}), key)
        if default is not None:  # a setting that defaults to none shows a valid example value
            assert shown == default, f"{section}.{key}: the example shows {value!r}"


def test_the_example_loads_as_the_defaults_but_for_its_deliberate_values() -> None:
    loaded = load_settings(EXAMPLE, environ={}).model_dump()
    expected = Settings().model_dump()
    for (section, key), value in DELIBERATE.items():
        assert expected[section][key] != value
        expected[section][key] = value
    assert loaded == expected


@pytest.mark.parametrize(("name", "nearest"), [
    ("FLOWCAST_KAFKA_BOOTSTRAPP", "FLOWCAST_KAFKA_BOOTSTRAP"),
    ("FLOWCAST_TOPIC_PARTITIONS", "FLOWCAST_TOPICS_PARTITIONS"),
    ("FLOWCAST_HTTP_TOKEN_", "FLOWCAST_HTTP_TOKEN"),
    ("FLOWCAST_cache_dirr", "FLOWCAST_CACHE_DIR"),
])
def test_a_misspelled_variable_is_refused_with_the_nearest_name(name: str, nearest: str) -> None:
    with pytest.raises(FlowcastUserError) as refused:
        load_settings(path=None, environ={name: "1", "FLOWCAST_KAFKA_BOOTSTRAP": "h:1"})
    message = str(refused.value)
    assert message.startswith(f"environment variable {name} is no flowcast setting; "
                              f"did you mean {nearest}?")
    assert "\n" not in message


def test_a_variable_near_nothing_is_refused_without_a_guess() -> None:
    with pytest.raises(FlowcastUserError, match=r"FLOWCAST_UNRELATED is no flowcast setting \("):
        load_settings(path=None, environ={"FLOWCAST_UNRELATED": "x"})


def test_variables_that_are_not_settings_pass_and_set_nothing() -> None:
    environ = {
        "FLOWCAST_CACHE_DIR": "/tmp/jars",  # the local broker's jar cache
        "FLOWCAST_BENCH_CACHE": "/tmp/bench",  # the benchmarks' model cache
        "flowcast_kafka_bootstrapp": "x",  # no upper-case prefix: not flowcast's
        "FLOWCAST_kafka_group_id": "g",  # a setting in another case
    }
    settings = load_settings(path=None, environ=environ)
    assert settings.kafka.group_id == "g"
    assert settings.model_dump() == Settings(kafka={"group_id": "g"}).model_dump()


def test_a_misspelled_variable_is_a_one_line_cli_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWCAST_KAFKA_BOOTSTRAPP", "127.0.0.1:1")
    assert main(["topics", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: environment variable FLOWCAST_KAFKA_BOOTSTRAPP is no flowcast "
                          "setting; did you mean FLOWCAST_KAFKA_BOOTSTRAP?")
