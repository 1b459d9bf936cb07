"""Where ``flowcast demo`` sends its records: the in-process bus, or a real Kafka cluster.

Both give the same three things: a sink for the simulated readings, a grouped consumer for the
engine, and a group-less consumer for the pages' view of the output topics. On Kafka every run
gets its own topics (a prefix with the run's stamp), so readings of an earlier run with the same
simulated times never mix into this one; :meth:`KafkaTransport.delete_run` removes them, and the
run's consumer group, when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol

from flowcast.config import Settings
from flowcast.transport.bus.broker import Bus
from flowcast.transport.readback import AlertsReader, bus_alerts_reader, kafka_alerts_reader
from flowcast.transport.sinks import BusSink, KafkaSink, RecordSink

TOPIC_FIELDS = ("road_readings", "spot_readings", "road_conditions", "spot_forecasts",
                "spot_alerts", "deadletter")


class Transport(Protocol):
    """Sinks and consumers of one demo run."""

    description: str

    def sink(self) -> RecordSink:
        """A new sink (one per producing thread)."""
        ...

    def engine_consumer(self) -> Any:
        """The engine's consumer, in the demo's group."""
        ...

    def view_consumer(self) -> Any:
        """A consumer without a group, for the pages' view of the output topics."""
        ...

    def alerts_reader(self) -> AlertsReader:
        """Reads the latest alert per spot back from the alerts topic (engine restarts)."""
        ...


class BusTransport:
    """The in-process bus: nothing to install, nothing to start."""

    description = "in-process bus"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = Bus(default_partitions=settings.topics.partitions, retention=1_000_000)
        for field in TOPIC_FIELDS:
            self.bus.create_topic(getattr(settings.topics, field))

    def sink(self) -> RecordSink:
        """A sink appending to the bus."""
        return BusSink(self.bus)

    def engine_consumer(self) -> Any:
        """A grouped bus consumer."""
        return self.bus.consumer(group_id=self.settings.kafka.group_id,
                                 max_poll_records=self.settings.engine.poll_max_records)

    def view_consumer(self) -> Any:
        """A group-less bus consumer."""
        return self.bus.consumer(max_poll_records=5000)

    def alerts_reader(self) -> AlertsReader:
        """The alerts topic on the bus."""
        return bus_alerts_reader(self.bus, self.settings.topics.spot_alerts)


@dataclass(frozen=True)
class RunDeleted:
    """What :meth:`KafkaTransport.delete_run` removed: the topics that existed, and whether the
    consumer group went too (``group_status``: ``"OK"`` or the broker's error name)."""

    topics: list[str]
    group_status: str


class KafkaTransport:
    """A real Kafka cluster at ``settings.kafka.bootstrap``, with topics of this run's own."""

    DELETE_TIMEOUT_MS = 30_000

    def __init__(self, settings: Settings, oldest_ms: int) -> None:
        """Create the run's topics, keeping records back to ``oldest_ms`` (epoch ms: the
        simulated times may lie in the past, and Kafka's retention goes by record time). If
        creating them fails, those already made are deleted again."""
        self.settings = settings
        self.description = f"Kafka at {settings.kafka.bootstrap}"
        self.topic_names = [getattr(settings.topics, field) for field in TOPIC_FIELDS]
        try:
            self._create_topics(oldest_ms)
        except BaseException:
            with contextlib.suppress(Exception):  # the creation's error is the one to report
                self.delete_run()
            raise

    @property
    def topic_pattern(self) -> str:
        """The run's topic names as one glob, for messages
        (``flowcast-demo-<stamp>.flowcast.*``)."""
        return os.path.commonprefix(self.topic_names) + "*"  # noqa: RUF071 (names, not paths)

    def delete_run(self) -> RunDeleted:
        """Delete this run's topics (those that exist) and its consumer group from the cluster.
        Call it once the engine and every consumer of the run are closed: a group with a live
        member is not deleted. Raises ``KafkaUnreachableError`` (no broker) or a kafka-python
        ``KafkaError`` (the broker refused)."""
        from flowcast.transport.kafka_client import admin_client

        admin = admin_client(self.settings.kafka)
        try:
            present = set(admin.list_topics())
            mine = [name for name in self.topic_names if name in present]
            if mine:
                admin.delete_topics(mine, timeout_ms=self.DELETE_TIMEOUT_MS)
            status = admin.delete_groups([self.settings.kafka.group_id])
        finally:
            admin.close()
        return RunDeleted(mine, str(dict(status).get(self.settings.kafka.group_id, "unknown")))

    @staticmethod
    def run_settings(settings: Settings, stamp: str | None = None) -> Settings:
        """``settings`` with this run's topic names (``flowcast-demo-<stamp>.<topic>``) and a
        group of its own."""
        stamp = stamp or time.strftime("%Y%m%d%H%M%S")
        data = settings.model_dump()
        for field in TOPIC_FIELDS:
            data["topics"][field] = f"flowcast-demo-{stamp}.{data['topics'][field]}"
        data["kafka"]["group_id"] = f"flowcast-demo-{stamp}"
        return Settings.model_validate(data)

    def _create_topics(self, oldest_ms: int) -> None:
        from flowcast.transport.kafka_client import admin_client
        from flowcast.transport.topics import create_topics, topic_specs

        hours = max(self.settings.topics.retention_hours,
                    (time.time() * 1000 - oldest_ms) / 3_600_000 + 48)
        admin = admin_client(self.settings.kafka)
        try:
            create_topics(admin, topic_specs(self.settings.topics, retention_hours=hours))
        finally:
            admin.close()

    def sink(self) -> RecordSink:
        """A Kafka producer sink."""
        return KafkaSink.connect(self.settings.kafka, client_id=self.settings.kafka.client_id)

    def engine_consumer(self) -> Any:
        """A kafka-python consumer in the run's group."""
        from flowcast.transport.kafka_client import make_consumer

        return make_consumer(self.settings.kafka, group_id=self.settings.kafka.group_id,
                             max_poll_records=self.settings.engine.poll_max_records)

    def view_consumer(self) -> Any:
        """A group-less kafka-python consumer."""
        from flowcast.transport.kafka_client import make_consumer

        return make_consumer(self.settings.kafka, group_id=None, enable_auto_commit=False)

    def alerts_reader(self) -> AlertsReader:
        """The alerts topic on the cluster."""
        return kafka_alerts_reader(self.settings.kafka, self.settings.topics.spot_alerts)
