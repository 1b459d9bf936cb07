"""The checkpoint that ends every engine step: publish, wait for acknowledgement, commit.

Every output (road conditions, spot forecasts, alerts, dead letters) goes to every sink; each
sink is flushed, which returns only once the broker has acknowledged everything sent (and
raises :class:`~flowcast.transport.sinks.SinkError` for anything refused). Only then are the
consumer's offsets committed: at-least-once. An output repeated after a crash is keyed by
(segment or spot, issue time), so the repeat is harmless (DESIGN.md "Recovery and delivery").
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from kafka.structs import OffsetAndMetadata, TopicPartition

from flowcast.engine.clock import Clock
from flowcast.engine.metrics import Metrics
from flowcast.engine.outputs import Output, StepResult
from flowcast.transport.sinks import RecordSink, SinkError, SinkTimeout


class Checkpoint:
    """Outputs waiting to be acknowledged, and the offsets committed so far per partition.

    ``ready`` is set once the outputs of a closed bucket were first acknowledged.
    """

    def __init__(self, sinks: Sequence[RecordSink], consumer: Any, metrics: Metrics,
                 clock: Clock, flush_timeout_s: float) -> None:
        if isinstance(sinks, RecordSink):
            raise TypeError("give the engine a list of sinks, e.g. [sink]")
        self.sinks = list(sinks)
        self.consumer = consumer
        self.metrics = metrics
        self.clock = clock
        self.flush_timeout_s = flush_timeout_s
        self.committed: dict[TopicPartition, int] = {}
        self.ready = threading.Event()
        self._pending: list[Output] = []
        self._queued = [0] * len(self.sinks)  # per sink, how many of _pending it has queued
        self._failed = False
        self._closed_at: list[float] = []

    def __len__(self) -> int:
        """Outputs waiting to be published."""
        return len(self._pending)

    def collect(self, result: StepResult) -> None:
        """Hold a worker's outputs (and its buckets' close times) until the next flush."""
        self._pending += result.outputs
        self._closed_at += result.closed_at

    def flush_and_commit(self, positions: Mapping[TopicPartition, int | None]) -> int:
        """Publish what is pending, then commit each partition's ``positions`` (next offset to
        process) beyond what was committed. Returns the number of partitions committed."""
        self.publish()
        return self.commit(positions)

    @property
    def unacknowledged(self) -> bool:
        """Whether outputs of an earlier, failed publish still wait for acknowledgement."""
        return self._failed

    def publish(self) -> None:
        """Send every pending output to every sink and wait until each acknowledged all.

        Raises :class:`~flowcast.transport.sinks.SinkError` with the pending outputs kept, for
        a later call to finish: after a :class:`~flowcast.transport.sinks.SinkTimeout` what
        was already queued is only waited for again, after a loss it is sent again (a repeat
        is harmless, a gap is not)."""
        if not self._pending:
            return
        self._failed = True
        for i, sink in enumerate(self.sinks):
            send = sink.send
            for out in self._pending[self._queued[i]:]:
                send(out.topic, out.key, out.value, out.headers, out.timestamp_ms)
                self._queued[i] += 1
        for i, sink in enumerate(self.sinks):
            try:
                sink.flush(self.flush_timeout_s)
            except SinkTimeout:
                raise
            except SinkError:
                self._queued[i] = 0
                raise
        self._queued = [0] * len(self.sinks)
        self._failed = False
        self.metrics.inc("flowcast_outputs_total", len(self._pending))
        acked = self.clock.monotonic()
        for started in self._closed_at:
            self.metrics.observe("flowcast_close_to_ack_seconds", acked - started)
        if self._closed_at:
            self.ready.set()
        self._pending = []
        self._closed_at = []

    def commit(self, positions: Mapping[TopicPartition, int | None]) -> int:
        """Commit the offsets that moved past the last commit; returns how many partitions."""
        offsets = {tp: OffsetAndMetadata(position, "", -1) for tp, position in positions.items()
                   if position is not None and position > self.committed.get(tp, -1)}
        if offsets:
            self.consumer.commit(offsets, timeout_ms=int(self.flush_timeout_s * 1000))
            for tp, meta in offsets.items():
                self.committed[tp] = meta.offset
        return len(offsets)

    def start(self, tp: TopicPartition, offset: int) -> None:
        """A partition taken over: offsets below ``offset`` count as committed."""
        self.committed[tp] = offset

    def forget(self, tp: TopicPartition) -> None:
        """A partition given up: its commits are the group's new owner's business."""
        self.committed.pop(tp, None)
