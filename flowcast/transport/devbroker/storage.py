"""The local broker's files: ``server.properties`` of a single combined broker+controller on
127.0.0.1, and the formatted KRaft storage that each new data directory starts from."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from flowcast.transport.devbroker.jars import KAFKA_VERSION, cache_dir, file_lock
from flowcast.transport.devbroker.logs import (
    LOG_FILE,
    LocalKafkaError,
    render_log4j2,
    tail_lines,
)

NODE_ID = 1
KAFKA_LOG_DIR = "kafka-logs"  # Kafka's log.dirs: partitions and the KRaft metadata log


def new_cluster_id() -> str:
    """A random Kafka cluster id: a UUID as 22 characters of unpadded URL-safe base64."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):  # Kafka's own ids never do: it would read as a flag
            return text


def render_server_properties(
    port: int, controller_port: int, log_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The ``server.properties`` of a single combined broker+controller node on 127.0.0.1.

    ``port`` serves clients (PLAINTEXT), ``controller_port`` the KRaft controller; ``log_dir``
    holds the partitions and the metadata log. ``extra`` adds or overrides broker settings.
    """
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        # A static voter set: the controller's port is read from this file at each start, so a
        # kept data dir can be restarted on new ports (a --standalone format would pin it).
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "auto.create.topics.enable": "false",  # flowcast creates its topics (`topics create`)
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",  # 50 by default: slower first group join
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    props.update(extra or {})
    lines = [f"{key}={_escape_property(value)}" for key, value in props.items()]
    return "# written by flowcast.transport.devbroker\n" + "\n".join(lines) + "\n"


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


def formatted_storage(java: str, libs: Path, version: str = KAFKA_VERSION) -> Path:
    """An empty, formatted KRaft log directory for node :data:`NODE_ID`, made once per Kafka
    version in the cache with ``kafka.tools.StorageTool format`` and copied into each new
    broker's data dir (a format is a JVM start of its own: seconds saved on every start).

    Brokers copied from it share a cluster id; they are separate single-node clusters anyway.
    """
    root = cache_dir(version)
    template = root / "kraft-template"
    marker = root / "kraft-template.complete"
    if marker.exists():
        return template
    with file_lock(root / ".lock", 300.0):
        if not marker.exists():
            _format_storage(java, libs, template)
            marker.write_text(f"{version}\n")
    return template


def _format_storage(java: str, libs: Path, target: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="flowcast-kafka-format-"))
    try:
        logs = work / KAFKA_LOG_DIR
        props = work / "server.properties"
        props.write_text(render_server_properties(9092, 9093, logs))  # nothing binds them
        (work / "log4j2.xml").write_text(render_log4j2(work / LOG_FILE))
        command = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={work / 'log4j2.xml'}",
                   "-cp", f"{libs}{os.sep}*", "kafka.tools.StorageTool", "format",
                   "-t", new_cluster_id(), "-c", str(props)]
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            output = tail_lines((done.stdout + done.stderr).splitlines(), 40)
            raise LocalKafkaError(f"formatting Kafka storage failed:\n{output}")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(logs, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
