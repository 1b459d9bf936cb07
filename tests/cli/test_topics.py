"""``flowcast topics create`` on topics that exist but differ: a warning per topic, and with
``--strict`` exit 2 listing them (real broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from flowcast.cli import main
from flowcast.config import Settings
from flowcast.transport.topics import TopicSpec, create_topics

TOPIC_KEYS = ("road_readings", "spot_readings", "road_conditions", "spot_forecasts",
              "spot_alerts", "deadletter")


@pytest.mark.kafka
def test_differing_topics_warn_and_fail_with_strict(
    kafka_settings: Settings, kafka_admin: KafkaAdminClient, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no flowcast.toml: defaults and the environment below
    topics = kafka_settings.topics
    for key in TOPIC_KEYS:  # this test's own topic names, through the environment
        monkeypatch.setenv(f"FLOWCAST_TOPICS_{key.upper()}", getattr(topics, key))
    monkeypatch.setenv("FLOWCAST_KAFKA_BOOTSTRAP", kafka_settings.kafka.bootstrap)
    # an alerts topic someone made by hand, not compacted
    create_topics(kafka_admin, [TopicSpec(topics.spot_alerts, 6, 1, {"cleanup.policy": "delete"})])

    assert main(["topics", "create", "--partitions", "6"]) == 0
    captured = capsys.readouterr()
    assert f"exists  {topics.spot_alerts} (6 partitions); differs from what was asked, left " \
           "unchanged" in captured.out.splitlines()
    [warning] = captured.err.splitlines()
    assert warning.startswith(f"warning: {topics.spot_alerts} has cleanup.policy=delete, "
                              "flowcast expects compact; left unchanged")

    assert main(["topics", "create", "--partitions", "6", "--strict"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0] == warning
    assert err[1].startswith(f"error: 1 existing topic(s) differ from what was asked: "
                             f"{topics.spot_alerts} (see the warnings above)")

    # the case: asking for 3 partitions of 6-partition topics
    assert main(["topics", "create", "--partitions", "3", "--strict"]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == ("0 created, 6 already existed at "
                                             f"{kafka_settings.kafka.bootstrap}")
    *warnings, error = captured.err.splitlines()
    assert sum("6 partitions, more than the 3 asked; left unchanged" in w for w in warnings) == 6
    assert error.startswith(f"error: 6 existing topic(s) differ from what was asked: "
                            f"{', '.join(topics.all_names())} (see the warnings above)")
