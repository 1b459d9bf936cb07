"""The streaming loop: source -> kernels -> forecasts -> sinks, with watermarks and commits.

:class:`Engine` runs over any consumer with kafka-python's ``KafkaConsumer`` interface (a real
broker, or :class:`flowcast.transport.bus.consumer.BusConsumer` in-process) and a list of
:class:`flowcast.transport.sinks.RecordSink` (every output goes to every sink). Each poll:

1. every assigned partition's worker decodes, validates, accumulates and closes buckets,
   running the forecast cycle of each closed bucket;
2. silent partitions advance their watermark with the clock (``idle_timeout``);
3. the :class:`~flowcast.engine.checkpoint.Checkpoint` sends the outputs and dead letters to
   every sink, waits for every acknowledgement, and only then commits the consumed offsets:
   at-least-once, and since outputs are keyed by (segment or spot, issue time), a repeat after
   a crash is harmless.

A broker error (connection lost, a timeout, a flush not acknowledged) ends the step early with
everything kept: the partitions' state, the outputs not yet acknowledged, the offsets not yet
committed. :class:`~flowcast.engine.broker_link.BrokerLink` says how long to back off; the next
step first finishes the interrupted publish, then reads on from where the workers stopped.
Errors that waiting cannot cure (credentials, ACLs, a fenced static member) stop the process
with a :class:`~flowcast.errors.FlowcastUserError`.

On assignment a partition is rewound by time over the history span (``offsets_for_times``) and
replayed silently up to the group's committed offset, so the state is rebuilt from Kafka's
retention rather than stored (DESIGN.md "Recovery and delivery").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.broker_link import BrokerLink
from flowcast.engine.checkpoint import Checkpoint
from flowcast.engine.clock import Clock, WallClock
from flowcast.engine.metrics import Metrics
from flowcast.engine.model_holder import ModelHolder, SpotModelHolder
from flowcast.engine.road_partition import RoadPartition
from flowcast.engine.spot_partition import SpotPartition
from flowcast.models.forecaster import Forecaster
from flowcast.models.horizons import minutes_to_buckets
from flowcast.models.spots.artifact import spot_model_dir
from flowcast.transport.failures import fatal_error, is_transient
from flowcast.transport.readback import AlertsReader
from flowcast.transport.sinks import RecordSink

log = logging.getLogger("flowcast.engine.loop")

PROBE_EVERY_S = 5.0  # how often a connected engine asks for the log ends (lag, liveness)
PROBE_TIMEOUT_MS = 5_000
# A silent partition's watermark runs on with the clock only on log ends fresher than this: a
# probe taken before a pause (SIGSTOP, a long GC, a stalled VM) cannot vouch for the silence.
FRESH_PROBE_S = 1.0


@dataclass
class StepStats:
    """What one engine step did."""

    records: int = 0
    outputs: int = 0
    committed: int = 0
    retry_in_s: float | None = None  # set when a broker error ended the step early


Worker = RoadPartition | SpotPartition


class Engine:
    """The streaming engine for one process of the consumer group."""

    def __init__(self, city: City, settings: Settings, consumer: Any,
                 sinks: Sequence[RecordSink], *,
                 metrics: Metrics | None = None, clock: Clock | None = None,
                 forecaster: Forecaster | None = None, models: ModelHolder | None = None,
                 spot_models: SpotModelHolder | None = None,
                 alerts_reader: AlertsReader | None = None) -> None:
        self.city = city
        self.settings = settings
        self.consumer = consumer
        self.metrics = metrics or Metrics()
        self.clock = clock or WallClock()
        self.checkpoint = Checkpoint(sinks, consumer, self.metrics, self.clock,
                                     settings.engine.flush_timeout_s)
        self.ready = self.checkpoint.ready  # set once the first outputs are acknowledged
        self.link = BrokerLink(self.metrics, self.clock,
                               max_backoff_s=settings.kafka.retry_backoff_max_s)
        self.forecaster = forecaster
        self.models = models
        # the spot model lives in the road model's directory (MODEL_DIR/spots)
        if spot_models is None and models is not None:
            spot_models = ModelHolder.spots(
                spot_model_dir(models.path), bucket_s=settings.time.spot_bucket_s,
                horizons=minutes_to_buckets(settings.engine.spot_horizons_min,
                                            settings.time.spot_bucket_s),
                metrics=self.metrics, check_every_s=models.check_every_s, city=city)
        self.spot_models = spot_models
        self.alerts_reader = alerts_reader  # reads the alerts topic back on spot assignment
        self.workers: dict[TopicPartition, Worker] = {}
        self._last_probe = float("-inf")
        self._log_ends: dict[TopicPartition, int] = {}  # from the last probe
        self._to_assign: set[TopicPartition] = set()
        self._to_revoke: set[TopicPartition] = set()
        self._describe_metrics()

    # ----- group membership ----------------------------------------------------------------
    def subscribe(self) -> None:
        """Join the group on the reading topics; partitions arrive through the listener."""
        topics = [self.settings.topics.road_readings, self.settings.topics.spot_readings]
        self.consumer.subscribe(topics, listener=_Listener(self))

    def _apply_rebalance(self) -> set[TopicPartition]:
        """Act on what the listener recorded during the last poll (it runs on the client's
        I/O thread, where blocking calls such as ``offsets_for_times`` are not allowed).
        Returns the partitions just assigned."""
        revoked, assigned = self._to_revoke, self._to_assign
        self._to_revoke, self._to_assign = set(), set()
        if revoked:
            self.revoke(revoked - assigned)
        for tp in assigned & self.workers.keys():
            # kept through a rebalance (e.g. after a broker restart): the client restarts it
            # from the committed offset, but the worker's state already holds what came after
            position = self.workers[tp].position
            if position is not None:
                self.consumer.seek(tp, position)
        fresh = {tp for tp in assigned if tp not in self.workers}
        if fresh:
            self.assign(fresh)
        return fresh

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Take partitions: build their workers, rewind over the history span, and mark how
        far to replay silently."""
        now = self.clock.now_ms()
        span_ms = int(self.settings.time.history_days * 86_400_000)
        todo = sorted(partitions)
        for i, tp in enumerate(todo):
            worker = self._new_worker(tp)
            try:
                start, replay_until = self._start_offsets(tp, now - span_ms)
            except KafkaError:
                self._to_assign |= set(todo[i:])  # the broker did not answer: next step
                raise
            self.consumer.seek(tp, start)
            worker.position = start
            worker.replay_until = replay_until
            self.workers[tp] = worker
            self.checkpoint.start(tp, replay_until)
            log.info("assigned %s[%d]: replay %d..%d, then live", tp.topic, tp.partition, start,
                     replay_until)
        self.metrics.set("flowcast_assigned_partitions", len(self.workers))

    def revoke(self, partitions: Iterable[TopicPartition]) -> None:
        """Give partitions up and drop their state. Every step ends flushed and committed, so
        nothing processed is left behind; a commit now could fail, as the group has moved on."""
        for tp in partitions:
            self.workers.pop(tp, None)
            self.checkpoint.forget(tp)
        self.metrics.set("flowcast_assigned_partitions", len(self.workers))

    def _new_worker(self, tp: TopicPartition) -> Worker:
        n = len(self.consumer.partitions_for_topic(tp.topic) or {tp.partition})
        n = max(n, tp.partition + 1)
        if tp.topic == self.settings.topics.road_readings:
            return RoadPartition(tp.topic, tp.partition, n, self.city, self.settings,
                                 self.metrics, self.forecaster, self.models)
        return SpotPartition(tp.topic, tp.partition, n, self.city, self.settings, self.metrics,
                             self.spot_models, self.alerts_reader)

    def _start_offsets(self, tp: TopicPartition, since_ms: int) -> tuple[int, int]:
        """(first offset to read, first offset to publish for) of a newly assigned partition."""
        wait = {"timeout_ms": PROBE_TIMEOUT_MS}  # a broker gone mid-assignment: retried later
        found = self.consumer.offsets_for_times({tp: max(since_ms, 0)}, **wait).get(tp)
        end = int(self.consumer.end_offsets([tp], **wait)[tp])
        start = int(found.offset) if found is not None else end
        committed = _offset(self.consumer.committed(tp, **wait))
        if committed is not None:
            return min(start, committed), committed
        if self.settings.engine.start_from == "latest":
            return start, end
        return start, start

    # ----- the loop ------------------------------------------------------------------------
    def step(self) -> StepStats:
        """One poll: process, publish, flush, commit. A transient broker error ends the step
        early with everything kept; ``retry_in_s`` then says how long to back off."""
        stats = StepStats()
        try:
            self._step(stats)
        except CommitFailedError as err:  # the group rebalanced: the next poll rejoins
            log.info("commit refused after a rebalance (%s); the next poll rejoins", err)
        except Exception as err:
            if not is_transient(err):
                if isinstance(err, KafkaError):
                    raise fatal_error(err, self.settings.kafka.instance_id) from err
                raise
            stats.retry_in_s = self.link.failed(err)
        return stats

    def _step(self, stats: StepStats) -> None:
        if self.checkpoint.unacknowledged:
            # finish the publish an outage interrupted before reading more (bounded memory)
            self.checkpoint.publish()
        polled = self.consumer.poll(timeout_ms=self.settings.engine.poll_timeout_ms,
                                    max_records=self.settings.engine.poll_max_records)
        fresh = self._apply_rebalance()
        now = self.clock.now_ms()
        for tp, records in polled.items():
            worker = self.workers.get(tp)
            if worker is None or not records or tp in fresh:
                continue  # a fresh partition's records came from before its rewind
            stats.records += len(records)
            self.checkpoint.collect(worker.process(records, now))
        if self.link.connected:  # while cut off, readings may be waiting in the broker
            self._advance_idle([tp for tp in self.workers if tp not in polled], now)
        stats.outputs = len(self.checkpoint)
        stats.committed = self.flush_and_commit()
        self._probe()

    def _advance_idle(self, quiet: list[TopicPartition], now: int) -> None:
        """Let the watermarks of silent, caught-up partitions run on with the clock. Whether
        a partition is caught up is asked of the broker first when any is due (a fresh probe),
        so that neither a backlog nor a pause closes a bucket whose readings are in the log."""
        idle_ms = self.settings.time.idle_timeout_s * 1000
        due = any(self.workers[tp].watermark.silent_for(now) >= idle_ms for tp in quiet)
        if due and self.clock.monotonic() - self._last_probe > FRESH_PROBE_S:
            self._probe(force=True)
        for tp in quiet:
            if self._caught_up(tp):
                self.checkpoint.collect(self.workers[tp].idle(now, idle_ms))

    def _caught_up(self, tp: TopicPartition) -> bool:
        """Whether ``tp`` has nothing left to read: its worker's position is at the log end
        (the high watermark of the last fetch, or the last probe's if fresher). Only then may
        a silent partition's watermark run on with the clock: a partition that is merely behind
        (a backlog, a slow poll, a restart) must not close buckets whose readings are still in
        the log, or the outputs would depend on timing. Never blocks: the worker's position is
        the engine's own (the client's ``position`` may wait on the broker for an offset)."""
        position = self.workers[tp].position
        try:
            highwater = self.consumer.highwater(tp)
        except (AssertionError, KafkaError):  # no longer assigned: a rebalance is under way
            return False
        if highwater is None or position is None:
            return False
        # the probe's end is fresher than a fetch's high watermark after a pause or outage
        return position >= max(highwater, self._log_ends.get(tp, -1))

    def run(self, stop: threading.Event | None = None,
            until: Callable[[Engine], bool] | None = None) -> None:
        """Step until ``stop`` is set or ``until(engine)`` says so; then flush, commit, and
        leave the group."""
        stop = stop or threading.Event()
        try:
            while not stop.is_set() and not (until is not None and until(self)):
                retry_in_s = self.step().retry_in_s
                if retry_in_s is not None:
                    stop.wait(retry_in_s)
        finally:
            self.close()

    def is_ready(self) -> bool:
        """Whether this engine is serving: outputs acknowledged at least once, and the broker
        reachable now (``/readyz``)."""
        return self.ready.is_set() and self.link.connected

    def close(self) -> None:
        """Publish and commit what was processed, then leave the group. With the broker gone
        this gives up after one flush timeout: what was not committed is read again by the
        partitions' next owner (at-least-once)."""
        try:
            self.flush_and_commit()
        except Exception as err:
            if not is_transient(err):
                raise
            log.warning("closing without a final commit (%s); the next owner re-reads", err)
        finally:
            self.consumer.close()

    def flush_and_commit(self) -> int:
        """Publish what was processed to every sink, wait for the acknowledgements, then commit
        every partition's processed offset. Returns the number of partitions committed."""
        return self.checkpoint.flush_and_commit(
            {tp: w.position for tp, w in self.workers.items()})

    def _probe(self, force: bool = False) -> None:
        """Ask for the log ends of the assigned partitions: every ``PROBE_EVERY_S`` while
        connected (consumer lag), every step while cut off (an answer ends the outage), and
        whenever ``force``d."""
        now = self.clock.monotonic()
        if not force and self.link.connected and now - self._last_probe < PROBE_EVERY_S:
            return
        self._last_probe = now
        if not self.workers:
            self.link.answered()  # the poll went through; nothing to wait for
            return
        ends = self.consumer.end_offsets(list(self.workers), timeout_ms=PROBE_TIMEOUT_MS)
        self.link.answered()
        self._log_ends = {tp: int(end) for tp, end in ends.items()}
        total = 0
        for tp, worker in self.workers.items():
            lag = max(self._log_ends.get(tp, 0) - int(worker.position or 0), 0)
            total += lag
            self.metrics.set("flowcast_consumer_lag", lag, topic=tp.topic,
                             partition=str(tp.partition))
        self.metrics.set("flowcast_consumer_lag_total", total)

    def _describe_metrics(self) -> None:
        """The ``# HELP`` of the loop's families and of those its workers and checkpoint
        write for it (the components that can run alone describe their own)."""
        m = self.metrics
        m.describe("flowcast_readings_total",
                   "Readings decoded from the input records, by kind (road, spot); "
                   "unit: readings")
        m.describe("flowcast_deadletters_total",
                   "Readings (or undecodable records) refused as dead letters, by kind and "
                   "reason; unit: readings")
        m.describe("flowcast_buckets_closed_total",
                   "Event-time buckets closed, by kind (road, spot); unit: buckets")
        m.describe("flowcast_late_corrections_total",
                   "Late readings that corrected an already closed bucket, by kind; "
                   "unit: readings")
        m.describe("flowcast_outputs_total",
                   "Output records (messages and dead letters) acknowledged by every sink; "
                   "unit: records")
        m.describe("flowcast_close_to_ack_seconds",
                   "Time from a bucket's close to its outputs acknowledged by every sink; "
                   "unit: seconds")
        m.describe("flowcast_consumer_lag",
                   "Records between the engine's position and the log end, by topic and "
                   "partition; unit: records")
        m.describe("flowcast_consumer_lag_total",
                   "Records between the engine's positions and the log ends, summed over "
                   "every assigned partition; unit: records")
        m.describe("flowcast_assigned_partitions",
                   "Input partitions assigned to this engine now; unit: partitions")


class _Listener(ConsumerRebalanceListener):
    """Hands partition assignments to the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.engine._to_revoke |= set(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.engine._to_assign |= set(assigned)


def _offset(committed: Any) -> int | None:
    if committed is None:
        return None
    return int(committed.offset if isinstance(committed, OffsetAndMetadata) else committed)
