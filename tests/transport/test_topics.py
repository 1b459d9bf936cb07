"""flowcast's topic layout, and creating it on a real broker."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka_fixture import KafkaNames

from flowcast.config import Settings, TopicSettings
from flowcast.errors import FlowcastUserError
from flowcast.transport.topics import (
    DEADLETTER_MIN_RETENTION_HOURS,
    HOUR_MS,
    TopicOutcome,
    TopicSpec,
    create_topics,
    describe_topics,
    format_outcome,
    topic_specs,
)


def test_specs_follow_the_settings() -> None:
    topics = TopicSettings(partitions=8, retention_hours=48, replication_factor=3)
    specs = {spec.name: spec for spec in topic_specs(topics)}
    assert list(specs) == topics.all_names()
    assert {spec.partitions for spec in specs.values()} == {8}
    assert {spec.replication_factor for spec in specs.values()} == {3}
    assert specs[topics.spot_alerts].configs == {"cleanup.policy": "compact"}
    assert specs[topics.road_readings].configs == {"cleanup.policy": "delete",
                                                   "retention.ms": str(48 * HOUR_MS)}
    dead = int(specs[topics.deadletter].configs["retention.ms"])
    assert dead == DEADLETTER_MIN_RETENTION_HOURS * HOUR_MS


def test_flags_override_the_settings_and_deadletter_keeps_longer() -> None:
    topics = TopicSettings()
    specs = {s.name: s for s in topic_specs(topics, partitions=2, retention_hours=1000)}
    assert specs[topics.road_conditions].partitions == 2
    assert specs[topics.road_conditions].configs["retention.ms"] == str(1000 * HOUR_MS)
    assert specs[topics.deadletter].configs["retention.ms"] == str(1000 * HOUR_MS)
    dead = topic_specs(topics, deadletter_retention_hours=12)[-1]
    assert dead.name == topics.deadletter and dead.configs["retention.ms"] == str(12 * HOUR_MS)
    with pytest.raises(FlowcastUserError, match="positive"):
        topic_specs(topics, partitions=0)


def test_an_existing_topic_that_differs_says_so() -> None:
    spec = TopicSpec("t", 3, 1, {"cleanup.policy": "delete"})
    same = TopicOutcome(spec, False, 3)
    other = TopicOutcome(spec, False, 6, ("t has 6 partitions, more than the 3 asked; ...",))
    assert not same.differs and other.differs
    assert format_outcome(same) == "exists  t (3 partitions); left unchanged"
    assert format_outcome(other) == ("exists  t (6 partitions); differs from what was asked, "
                                     "left unchanged")


@pytest.mark.kafka
def test_create_is_idempotent_and_shapes_the_topics(
    kafka_admin: KafkaAdminClient, kafka_settings: Settings,
) -> None:
    specs = topic_specs(kafka_settings.topics, partitions=3, retention_hours=10)
    first = create_topics(kafka_admin, specs)
    assert [o.created for o in first] == [True] * 6
    assert all(format_outcome(o).startswith("created ") for o in first)

    second = create_topics(kafka_admin, specs)
    assert [o.created for o in second] == [False] * 6
    assert [o.warnings for o in second] == [()] * 6
    assert all(format_outcome(o).startswith("exists ") for o in second)

    described = describe_topics(kafka_admin, kafka_settings.topics.all_names())
    infos = {info.name: info for info in described}
    assert {info.partitions for info in infos.values()} == {3}
    topics = kafka_settings.topics
    assert infos[topics.spot_alerts].configs["cleanup.policy"] == "compact"
    assert infos[topics.road_readings].configs == {"cleanup.policy": "delete",
                                                   "retention.ms": str(10 * HOUR_MS)}
    assert int(infos[topics.deadletter].configs["retention.ms"]) > 10 * HOUR_MS


@pytest.mark.kafka
def test_existing_topics_are_left_alone_with_a_warning(
    kafka_admin: KafkaAdminClient, kafka_names: KafkaNames,
) -> None:
    name = kafka_names.topic("narrow")
    create_topics(kafka_admin, [TopicSpec(name, 2, 1, {"cleanup.policy": "delete"})])
    [outcome] = create_topics(kafka_admin, [TopicSpec(name, 5, 1, {"cleanup.policy": "compact"})])
    assert not outcome.created and outcome.partitions == 2 and outcome.differs
    assert len(outcome.warnings) == 2
    assert "2 partitions, fewer than the 5 asked" in outcome.warnings[0]
    assert outcome.warnings[1].startswith(
        f"{name} has cleanup.policy=delete, flowcast expects compact; left unchanged (the "
        "alerts topic must keep the latest alert per spot")
    assert outcome.warnings[1].endswith("--add-config cleanup.policy=compact)")
    [fewer] = create_topics(kafka_admin, [TopicSpec(name, 1, 1, {"cleanup.policy": "delete"})])
    assert fewer.differs and len(fewer.warnings) == 1
    assert "2 partitions, more than the 1 asked; left unchanged" in fewer.warnings[0]
    [info] = describe_topics(kafka_admin, [name])
    assert info.partitions == 2 and info.configs["cleanup.policy"] == "delete"


@pytest.mark.kafka
def test_broker_refusals_are_user_errors(
    kafka_admin: KafkaAdminClient, kafka_names: KafkaNames,
) -> None:
    too_many_copies = TopicSpec(kafka_names.topic("copies"), 1, 3, {})
    with pytest.raises(FlowcastUserError, match=r"refused to create topic .*copies"):
        create_topics(kafka_admin, [too_many_copies])
    with pytest.raises(FlowcastUserError, match="no topic named"):
        describe_topics(kafka_admin, [kafka_names.topic("never-made")])
