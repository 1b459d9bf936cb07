"""Feed a :class:`~flowcast.serve.view.LiveView` from the output topics.

:class:`OutputReader` runs one daemon thread over a consumer with kafka-python's
``KafkaConsumer`` interface and **no group** (every reader sees every partition; nothing is
committed): :class:`flowcast.transport.bus.consumer.BusConsumer` or a consumer from
:func:`flowcast.transport.kafka_client.make_consumer` with ``group_id=None``.

It assigns all partitions of the road-conditions, spot-forecasts and spot-alerts topics. Road
conditions and spot forecasts start at ``offsets_for_times(now - http.recent_minutes)`` (the end
when nothing is that recent); alerts start at the beginning (a compacted topic: the latest
message per spot, which is what the bureau needs after a restart). A topic that does not exist
yet is looked up again every ``retry_s`` seconds, and picked up when it appears.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka.structs import TopicPartition

from flowcast.config import Settings
from flowcast.serve.view import LiveView

log = logging.getLogger("flowcast.serve.output_reader")


def wall_ms() -> int:
    """The wall clock, epoch ms: the default "now" of the recent window."""
    return time.time_ns() // 1_000_000


class OutputReader:
    """A daemon thread applying every output record to ``view``.

    ``clock_ms``: epoch ms "now" for the recent window (a replay of past data passes its own
    clock); ``poll_timeout_ms``: how long one poll waits; ``retry_s``: how often missing topics
    are looked up again.
    """

    def __init__(self, consumer: Any, view: LiveView, settings: Settings, *,
                 clock_ms: Callable[[], int] = wall_ms, poll_timeout_ms: int = 200,
                 retry_s: float = 1.0) -> None:
        self.consumer = consumer
        self.view = view
        self.settings = settings
        self.clock_ms = clock_ms
        self.poll_timeout_ms = poll_timeout_ms
        self.retry_s = retry_s
        topics = settings.topics
        self.recent_topics = (topics.road_conditions, topics.spot_forecasts)
        self.topics = (*self.recent_topics, topics.spot_alerts)
        self.records = 0  # records applied so far
        self.errors = 0  # poll failures (logged, retried)
        self._assigned: set[TopicPartition] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowcast-output-reader",
                                        daemon=True)
        self._last_lookup = -float("inf")

    # ----- lifecycle ---------------------------------------------------------------------
    def start(self) -> OutputReader:
        """Start the thread (returns self)."""
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop, wake a blocked poll, wait for it, close the consumer."""
        self._stop.set()
        wakeup = getattr(self.consumer, "wakeup", None)
        if callable(wakeup):
            try:
                wakeup()
            except Exception:  # kafka-python's wakeup may fail on a closed client
                log.debug("consumer wakeup failed", exc_info=True)
        self.join(timeout_s)

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the thread to end (it ends only after :meth:`stop`)."""
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """Whether the thread runs."""
        return self._thread.is_alive()

    @property
    def assigned(self) -> set[TopicPartition]:
        """Partitions read so far."""
        return set(self._assigned)

    # ----- the loop ----------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._maybe_assign()
                if not self._assigned:
                    self._stop.wait(self.retry_s)
                    continue
                polled = self.consumer.poll(timeout_ms=self.poll_timeout_ms)
                backoff = 0.1
            except Exception:
                if self._stop.is_set():
                    break
                self.errors += 1
                log.exception("output reader: poll failed; retrying in %.1f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for records in polled.values():
                for record in records:
                    self.view.apply(record.topic, record.key, record.value)
                self.records += len(records)
        try:
            self.consumer.close()
        except Exception:
            log.debug("closing the output consumer failed", exc_info=True)

    def _maybe_assign(self) -> None:
        """Assign the partitions of topics that appeared since the last lookup (every
        ``retry_s`` while some topic is missing or incomplete)."""
        now = time.monotonic()
        if now - self._last_lookup < self.retry_s:
            return
        self._last_lookup = now
        wanted: set[TopicPartition] = set()
        missing = []
        for topic in self.topics:
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                missing.append(topic)
                continue
            wanted |= {TopicPartition(topic, p) for p in partitions}
        fresh = wanted - self._assigned
        if not fresh:
            if not missing:
                self._last_lookup = float("inf")  # all there: stop looking
            return
        positions = {tp: self.consumer.position(tp) for tp in self._assigned}
        self.consumer.assign(sorted(self._assigned | fresh))
        for tp, offset in positions.items():
            self.consumer.seek(tp, offset)
        self._seek_start(sorted(fresh))
        self._assigned |= fresh
        log.info("output reader: reading %d partitions%s", len(self._assigned),
                 f"; waiting for {', '.join(missing)}" if missing else "")
        if not missing:
            self._last_lookup = float("inf")

    def _seek_start(self, partitions: list[TopicPartition]) -> None:
        """Recent window for conditions and forecasts, the beginning for alerts."""
        recent = [tp for tp in partitions if tp.topic in self.recent_topics]
        since = max(0, self.clock_ms() - int(self.settings.http.recent_minutes * 60_000))
        if recent:
            found = self.consumer.offsets_for_times(dict.fromkeys(recent, since))
            ends = self.consumer.end_offsets(recent)
            for tp in recent:
                hit = found.get(tp)
                self.consumer.seek(tp, int(hit.offset) if hit is not None else int(ends[tp]))
        alerts = [tp for tp in partitions if tp.topic not in self.recent_topics]
        if alerts:
            begins = self.consumer.beginning_offsets(alerts)
            for tp in alerts:
                self.consumer.seek(tp, int(begins[tp]))
