"""The local Kafka launcher: configuration rendering, ports, the jar cache, and a real start."""

from __future__ import annotations

import base64
import os
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from kafka import TopicPartition

from flowcast.cli import main
from flowcast.errors import FlowcastUserError
from flowcast.transport import devbroker as localkafka
from flowcast.transport.devbroker import (
    LocalKafka,
    LocalKafkaError,
    free_port,
    new_cluster_id,
    parse_java_version,
    port_in_use,
    render_log4j2,
    render_server_properties,
)
from flowcast.transport.kafka_client import admin_client, make_consumer, make_producer


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_server_properties_describe_a_loopback_single_node() -> None:
    props = _properties(render_server_properties(19092, 19093, Path("/data/kafka-logs")))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093")
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == f"{localkafka.NODE_ID}@127.0.0.1:19093"
    assert props["log.dirs"] == "/data/kafka-logs"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "default.replication.factor"):
        assert props[key] == "1", key


def test_server_properties_take_overrides_and_escape_backslashes() -> None:
    text = render_server_properties(1, 2, Path("/d"), {"num.partitions": "3",
                                                         "x.path": "C:\\kafka"})
    props = _properties(text)
    assert props["num.partitions"] == "3"
    assert props["x.path"] == "C:\\\\kafka"  # a Java properties file reads it back as C:\kafka
    assert list(props).count("num.partitions") == 1


def test_log4j2_config_sends_warnings_to_the_file_only(tmp_path: Path) -> None:
    log_file = tmp_path / "a&b <c>" / "broker.log"
    root = ET.fromstring(render_log4j2(log_file))
    appenders = root.find("Appenders")
    assert appenders is not None
    assert [child.tag for child in appenders] == ["File"]
    assert appenders[0].get("fileName") == str(log_file)
    logger = root.find("Loggers/Root")
    assert logger is not None and logger.get("level") == "WARN"


def test_cluster_ids_are_kafka_shaped() -> None:
    ids = [new_cluster_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        assert len(text) == 22 and not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16


def test_free_port_is_bindable_and_port_in_use_sees_a_listener() -> None:
    port = free_port()
    assert not port_in_use(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert port_in_use(port)


@pytest.mark.parametrize(("output", "major"), [
    ('openjdk version "17.0.15" 2025-04-15', 17),
    ('java version "1.8.0_392"', 8),
    ('openjdk version "21" 2023-09-19', 21),
    ("no version here", 0),
])
def test_java_version_parsing(output: str, major: int) -> None:
    assert parse_java_version(output) == major


def test_heap_sizes() -> None:
    assert localkafka.min_heap("512m") == "128m"
    assert localkafka.min_heap("2g") == "512m"
    assert localkafka.min_heap("100m") == "64m"
    with pytest.raises(FlowcastUserError, match="heap size 'lots' is not like 512m"):
        LocalKafka(heap="lots")  # refused before any download or JVM start


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWCAST_CACHE_DIR", str(tmp_path / "c"))
    assert localkafka.cache_dir("9.9.9") == tmp_path / "c" / "kafka-9.9.9"
    monkeypatch.delenv("FLOWCAST_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert localkafka.cache_dir("9.9.9") == tmp_path / "xdg" / "flowcast" / "kafka-9.9.9"


def test_jar_cache_is_complete_only_with_every_listed_jar(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWCAST_CACHE_DIR", str(tmp_path))
    root = localkafka.cache_dir("9.9.9")
    (root / "libs").mkdir(parents=True)
    assert not localkafka.jars_ready("9.9.9")
    (root / "libs" / "kafka_2.13-9.9.9.jar").write_bytes(b"PK")
    (root / localkafka.COMPLETE_MARKER).write_text("kafka_2.13-9.9.9.jar\nother.jar\n")
    assert not localkafka.jars_ready("9.9.9")  # other.jar is missing: an interrupted copy
    (root / "libs" / "other.jar").write_bytes(b"PK")
    assert localkafka.jars_ready("9.9.9")
    assert localkafka.ensure_jars("9.9.9") == root / "libs"  # no Maven run


def test_missing_maven_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWCAST_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FlowcastUserError, match="install Maven"):
        localkafka.ensure_jars("9.9.9")


def test_missing_java_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FlowcastUserError, match="Java 17"):
        LocalKafka().start()


@pytest.mark.parametrize("flag", ["--port=0", "--port=http", "--port=70000"])
def test_broker_cli_rejects_bad_ports(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["broker", flag]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --port must be") and "\n" not in err


def test_broker_cli_refuses_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert main(["broker", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: port {port} on 127.0.0.1 is already in use; pick another "
                       "--port or leave it out to use a free one")


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
