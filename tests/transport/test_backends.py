"""The demo's transports: a Kafka run makes topics of its own and deletes them, with its
consumer group, when asked (real broker)."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient
from kafka.structs import OffsetAndMetadata, TopicPartition

from flowcast.config import Settings
from flowcast.transport.backends import KafkaTransport


@pytest.mark.kafka
def test_a_kafka_run_deletes_its_topics_and_group(
    kafka_settings: Settings, kafka_admin: KafkaAdminClient,
) -> None:
    transport = KafkaTransport(kafka_settings, oldest_ms=int(time.time() * 1000) - 86_400_000)
    names = kafka_settings.topics.all_names()
    assert sorted(transport.topic_names) == sorted(names)
    assert set(names) <= set(kafka_admin.list_topics())
    assert transport.topic_pattern.endswith(".flowcast.*")
    # the run's group exists once the engine has committed an offset
    consumer = transport.engine_consumer()
    readings = TopicPartition(kafka_settings.topics.road_readings, 0)
    consumer.assign([readings])
    consumer.commit({readings: OffsetAndMetadata(0, "", -1)})
    consumer.close()
    group = kafka_settings.kafka.group_id
    assert group in _group_ids(kafka_admin)

    deleted = transport.delete_run()
    assert sorted(deleted.topics) == sorted(names) and deleted.group_status == "OK"
    # topic deletion completes in the background: wait for the metadata to say so
    deadline = time.monotonic() + 30
    while set(names) & set(kafka_admin.list_topics()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not set(names) & set(kafka_admin.list_topics())
    assert group not in _group_ids(kafka_admin)

    again = transport.delete_run()  # nothing left: nothing to delete
    assert again.topics == [] and again.group_status != "OK"


def _group_ids(admin: KafkaAdminClient) -> set[str]:
    return {group["group_id"] for group in admin.list_groups()}
