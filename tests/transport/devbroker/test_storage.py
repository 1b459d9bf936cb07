"""The local broker's files: server.properties of a loopback single node, cluster ids."""

from __future__ import annotations

import base64
from pathlib import Path

from flowcast.transport.devbroker.storage import NODE_ID, new_cluster_id, render_server_properties


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_server_properties_describe_a_loopback_single_node() -> None:
    props = _properties(render_server_properties(19092, 19093, Path("/data/kafka-logs")))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093")
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == f"{NODE_ID}@127.0.0.1:19093"
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


def test_cluster_ids_are_kafka_shaped() -> None:
    ids = [new_cluster_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        assert len(text) == 22 and not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16
