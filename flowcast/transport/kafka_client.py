"""Kafka clients (kafka-python) made from flowcast's settings, with the settings flowcast relies on.

- Producers: ``acks=all`` with idempotence (no duplicates from retries, order kept per
  partition), a short linger so batches fill, compression when a fast codec is installed.
- Consumers: no auto-commit (the engine commits only after its outputs are acknowledged,
  DESIGN.md "Recovery and delivery"), start from the earliest offset when the group has none.
- Every constructor takes either :class:`~flowcast.config.KafkaSettings` or a bootstrap string,
  and turns "no broker there" into :class:`KafkaUnreachableError` (a user error: exit 2).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.codec import has_lz4, has_zstd
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    UnsupportedVersionError,
)

from flowcast.config import KafkaSettings
from flowcast.errors import FlowcastUserError

KafkaTarget = KafkaSettings | str


class KafkaUnreachableError(FlowcastUserError):
    """No Kafka broker answered at the given bootstrap address."""

    def __init__(self, bootstrap: str, reason: str) -> None:
        super().__init__(
            f"cannot reach Kafka at {bootstrap}: {reason}; start one with 'flowcast broker' "
            "or pass --kafka"
        )
        self.bootstrap = bootstrap
        self.reason = reason


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """Split ``"host:port,host2:port2"`` into ``[(host, port), ...]`` (``[::1]:9092`` allowed).

    Raises :class:`FlowcastUserError` when an entry is not ``HOST:PORT``.
    """
    out: list[tuple[str, int]] = []
    for entry in (part.strip() for part in bootstrap.split(",")):
        host, sep, port = entry.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise FlowcastUserError(
                f"Kafka bootstrap {bootstrap!r} is not HOST:PORT[,HOST:PORT...]; fix --kafka or "
                "FLOWCAST_KAFKA_BOOTSTRAP"
            )
        out.append((host, int(port)))
    return out


def bootstrap_of(kafka: KafkaTarget) -> str:
    """The bootstrap string of a settings object or of a string (checked, spaces removed)."""
    text = kafka.bootstrap if isinstance(kafka, KafkaSettings) else kafka
    return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in parse_bootstrap(text))


def default_compression() -> str | None:
    """The producer codec: lz4, else zstd, when their Python packages are installed; else
    none (gzip would cost more CPU on the hot path than the bandwidth it saves on a LAN)."""
    if has_lz4():
        return "lz4"
    if has_zstd():
        return "zstd"
    return None


def admin_client(kafka: KafkaTarget, *, timeout_s: float = 10.0, **overrides: Any
                 ) -> KafkaAdminClient:
    """A connected admin client; raises :class:`KafkaUnreachableError` after ``timeout_s``
    seconds without an answer. ``overrides`` are kafka-python admin settings."""
    configs = _common(kafka, timeout_s) | overrides
    return _connect(KafkaAdminClient, configs)


def make_producer(kafka: KafkaTarget, *, timeout_s: float = 10.0, **overrides: Any
                  ) -> KafkaProducer:
    """A producer with ``acks=all``, idempotence, 5 ms linger, 64 KiB batches and
    :func:`default_compression`. ``overrides`` are kafka-python producer settings
    (e.g. ``value_serializer``, ``linger_ms``). Raises :class:`KafkaUnreachableError`."""
    configs = _common(kafka, timeout_s) | {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 64 * 1024,
        "compression_type": default_compression(),
    } | overrides
    return _connect(KafkaProducer, configs)


def make_consumer(kafka: KafkaTarget, *topics: str, timeout_s: float = 10.0, **overrides: Any
                  ) -> KafkaConsumer:
    """A consumer subscribed to ``topics`` (none: assign partitions yourself), auto-commit off,
    ``auto_offset_reset=earliest``. The group is ``KafkaSettings.group_id`` when given settings,
    else none; pass ``group_id=...`` to choose. With settings, a grouped consumer also takes the
    session and heartbeat timeouts and, in the engine's group, the static ``instance_id``.
    Raises :class:`KafkaUnreachableError`."""
    group_id = kafka.group_id if isinstance(kafka, KafkaSettings) else None
    configs = _common(kafka, timeout_s) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "allow_auto_create_topics": False,
    } | overrides
    if isinstance(kafka, KafkaSettings) and configs["group_id"] is not None:
        configs = _membership(kafka, configs["group_id"]) | configs
    consumer = _connect(KafkaConsumer, configs)
    if topics:
        consumer.subscribe(list(topics))
    return consumer


def _membership(kafka: KafkaSettings, group_id: str) -> dict[str, Any]:
    """Group settings: session and heartbeat from ``[kafka]``; the static instance id only for
    the engine's own group (another group, e.g. a reader's, must not claim it)."""
    configs: dict[str, Any] = {
        "session_timeout_ms": int(kafka.session_timeout_s * 1000),
        "heartbeat_interval_ms": int(kafka.heartbeat_interval_s * 1000),
    }
    if kafka.instance_id is not None and group_id == kafka.group_id:
        configs["group_instance_id"] = kafka.instance_id
    return configs


def wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Block until a broker at ``bootstrap`` answers a cluster-metadata request and lists at
    least one live broker; raise :class:`KafkaUnreachableError` after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            admin = admin_client(bootstrap, timeout_s=max(0.2, min(remaining, 2.0)))
            try:
                if _lists_a_broker(admin):
                    return
                reason = "the cluster lists no live broker yet"
            finally:
                admin.close()
        except KafkaUnreachableError as err:
            reason = err.reason
        except KafkaError as err:
            reason = f"{type(err).__name__}: {err}"
        if time.monotonic() + 0.2 >= deadline:
            raise KafkaUnreachableError(bootstrap, reason)
        time.sleep(0.2)


def _lists_a_broker(admin: KafkaAdminClient) -> bool:
    try:
        return bool(admin.describe_cluster().get("brokers"))
    except UnsupportedVersionError:  # brokers before 2.8: answering metadata is enough
        admin.list_topics()
        return True


def _common(kafka: KafkaTarget, timeout_s: float) -> dict[str, Any]:
    timeout_ms = max(100, int(timeout_s * 1000))
    configs: dict[str, Any] = {
        "bootstrap_servers": bootstrap_of(kafka),
        "bootstrap_timeout_ms": timeout_ms,
        # Connection failures retry quickly at first, but never slower than every 2 s.
        "reconnect_backoff_max_ms": 2000,
    }
    if isinstance(kafka, KafkaSettings):
        configs["client_id"] = kafka.client_id
    return configs


def _connect(factory: Any, configs: dict[str, Any]) -> Any:
    bootstrap = configs["bootstrap_servers"]
    try:
        return factory(**configs)
    except (KafkaTimeoutError, KafkaConnectionError):
        # kafka-python bootstraps in the constructor; either error means no broker answered.
        waited_s = configs["bootstrap_timeout_ms"] / 1000
        raise KafkaUnreachableError(bootstrap, _diagnose(bootstrap, waited_s)) from None


def _diagnose(bootstrap: str, waited_s: float) -> str:
    """Why nothing answered: the TCP error of the first address, else a Kafka-level timeout."""
    for host, port in parse_bootstrap(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=min(waited_s, 2.0)):
                pass
        except OSError as err:
            return _socket_reason(err)
    return f"no Kafka answer within {waited_s:g} s (is that port a Kafka listener?)"


def _socket_reason(err: OSError) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(err, socket.gaierror):
        return f"unknown host ({err.strerror})"
    if isinstance(err, TimeoutError):
        return "connection timed out"
    return err.strerror or str(err)
