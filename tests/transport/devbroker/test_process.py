"""The local broker process: a real start, a failed start, and data kept across a restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kafka import TopicPartition

from flowcast.transport.devbroker.logs import LocalKafkaError
from flowcast.transport.devbroker.ports import free_port
from flowcast.transport.devbroker.process import LocalKafka
from flowcast.transport.kafka_client import admin_client, make_consumer, make_producer


@pytest.mark.kafka
def test_a_broker_that_cannot_start_reports_its_log() -> None:
    broker = LocalKafka(extra_jvm_options=["-XX:+FlowcastNoSuchOption"], startup_timeout_s=60)
    with pytest.raises(LocalKafkaError, match="Unrecognized VM option") as raised:
        broker.start()
    assert "exited with status" in str(raised.value)
    assert broker.pid is None
    with pytest.raises(RuntimeError):
        _ = broker.data_dir  # the temporary directory went with the failed start


@pytest.mark.kafka
@pytest.mark.slow
def test_broker_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka"
    broker = LocalKafka(data_dir=data_dir, port=free_port())
    with broker:
        assert broker.pid is not None
        with admin_client(broker.bootstrap) as admin:
            admin.create_topics({"kept": {"num_partitions": 1, "replication_factor": 1}})
        producer = make_producer(broker.bootstrap)
        producer.send("kept", key=b"k", value=b"still here").get(timeout=30)
        producer.close()
        assert "broker.log" in broker.log_tail()
        pid = broker.pid
    assert broker.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert (data_dir / "kafka-logs" / "meta.properties").is_file()  # a fixed dir is kept

    with LocalKafka(data_dir=data_dir, port=free_port()) as again:  # new ports, same data
        consumer = make_consumer(again.bootstrap)
        partition = TopicPartition("kept", 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        batches = consumer.poll(timeout_ms=15_000)
        consumer.close()
    assert [(r.key, r.value) for rs in batches.values() for r in rs] == [(b"k", b"still here")]
