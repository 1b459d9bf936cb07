"""Driving the real engine through a replay: a dataset streamed bucket by bucket in event
time over the in-process bus, every road-condition message kept (``docs/replay.md``)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka.structs import OffsetAndMetadata, TopicPartition

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.engine.metrics import Metrics
from flowcast.engine.model_holder import RoadModelHolder
from flowcast.evaluation.replay_plan import ReplaySpan
from flowcast.ingest.dataset_source import (
    RoadSeries,
    bucket_frames,
    records_per_partition,
)
from flowcast.ingest.wire.codec import ARROW_HEADERS
from flowcast.progress import progress_bar
from flowcast.transport.bus.broker import Bus
from flowcast.transport.bus.consumer import BusConsumer

GROUP_ID = "flowcast-replay"
_MAX_IDLE_STEPS = 100


class ConditionSink:
    """The engine's sink during a replay: keeps the values published on ``topic`` (road
    conditions) and counts the records of every other topic (dead letters, spot outputs)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.values: list[bytes] = []
        self.other: Counter[str] = Counter()

    def send(self, topic: str, key: bytes | None, value: bytes,
             headers: list[tuple[str, bytes]] | None = None,
             timestamp_ms: int | None = None) -> None:
        """Keep one published record (road conditions) or count it (anything else)."""
        if topic == self.topic:
            self.values.append(value)
        else:
            self.other[topic] += 1

    def flush(self, timeout: float | None = None) -> None:
        """Nothing is ever pending."""

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class ReplayStats:
    """What went through the engine: ``readings`` and Kafka ``records`` sent, ``buckets`` fed
    (``warmup_buckets`` of them silently), engine ``steps``, wall ``seconds``, and the
    engine's counters of valid readings, dead letters (by reason) and late corrections."""

    readings: int = 0
    records: int = 0
    buckets: int = 0
    warmup_buckets: int = 0
    steps: int = 0
    seconds: float = 0.0
    decoded: int = 0
    deadletters: dict[str, int] = field(default_factory=dict)
    late_corrections: int = 0
    other_outputs: dict[str, int] = field(default_factory=dict)

    @property
    def readings_per_s(self) -> float:
        """Readings streamed through the engine per wall-clock second."""
        return self.readings / self.seconds if self.seconds > 0 else 0.0


def stream_through_engine(series: RoadSeries, city: City, settings: Settings,
                          holder: RoadModelHolder, span: ReplaySpan, *, progress: bool = True,
                          on_bucket: Callable[[int, Engine], None] | None = None,
                          ) -> tuple[list[bytes], ReplayStats]:
    """Stream ``series`` through a fresh engine over an in-process bus, bucket by bucket in
    event time, from the start of the history the first origin needs up to ``span``'s last
    origin; returns the road-condition messages the engine published (JSON bytes, those of
    origins before the span included) and the statistics.

    ``settings`` should come from :func:`replay_settings`. ``on_bucket(column, engine)`` runs
    after each bucket is consumed (tests use it to look at the engine's state).
    """
    bucket_ms = series.bucket_ms
    ring = int(settings.time.history_days * 86_400_000 // bucket_ms)
    start = max(0, span.first_origin - ring + settings.engine.open_buckets)
    stop = span.last_origin + 1
    topics = settings.topics
    partitions = settings.topics.partitions
    bus = Bus(default_partitions=partitions, retention=1 << 62)
    for topic in topics.all_names():
        bus.create_topic(topic)
    clock = EventClock(int(series.start_ms[start]))
    sink = ConditionSink(topics.road_conditions)
    metrics = Metrics()
    consumer = bus.consumer(group_id=GROUP_ID, enable_auto_commit=False,
                            auto_offset_reset="earliest")
    _commit_warmup(consumer, series, city, topics.road_readings, partitions, start,
                   span.first_origin)
    engine = Engine(city, settings, consumer, [sink], metrics=metrics, clock=clock,
                    models=holder)
    engine.subscribe()
    stats = ReplayStats(warmup_buckets=span.first_origin - start)
    began = time.perf_counter()
    bar = progress_bar(total=stop - start, enabled=progress, unit="bucket", desc="replay",
                       mininterval=0.5)
    with bar:
        for column in range(start, stop):
            frames = bucket_frames(series, column, city)
            for key, frame in frames.frames:
                bus.append(topics.road_readings, frame, key, ARROW_HEADERS, None, frames.ts_ms)
            stats.readings += frames.readings
            stats.records += len(frames.frames)
            clock.ms = max(clock.ms, frames.ts_ms)
            stats.steps += _drain(engine, consumer)
            stats.buckets += 1
            if on_bucket is not None:
                on_bucket(column, engine)
            bar.update(1)
            if column % 32 == 0:
                rate = stats.readings / max(time.perf_counter() - began, 1e-9)
                bar.set_postfix_str(f"{rate:,.0f} readings/s", refresh=False)
        stats.steps += _close_the_rest(engine, clock, settings, bucket_ms)
    stats.seconds = time.perf_counter() - began
    engine.close()
    _engine_counts(stats, metrics, sink)
    return sink.values, stats


def _commit_warmup(consumer: BusConsumer, series: RoadSeries, city: City, topic: str,
                   partitions: int, start: int, first_origin: int) -> None:
    """Commit, for the group, the offset each reading partition will have reached after the
    warm-up buckets ``start .. first_origin - 1``: the engine then replays those silently
    (``Engine.assign``) and publishes from there on."""
    counts = records_per_partition(series, city, partitions, start, first_origin)
    offsets = {TopicPartition(topic, p): OffsetAndMetadata(int(n), "", -1)
               for p, n in enumerate(counts.tolist()) if n > 0}
    if offsets:
        consumer.commit(offsets)


def _drain(engine: Engine, consumer: BusConsumer) -> int:
    """Step the engine until every assigned partition has consumed its records; returns the
    steps taken. The consumer always has the bus's records to hand, so every step but the
    one that takes the assignment reads some; a run of idle steps means the engine stopped
    consuming, which is a bug, not a wait."""
    steps = idle = 0
    while True:
        idle = 0 if engine.step().records else idle + 1
        steps += 1
        if engine.workers:
            ends = consumer.end_offsets(list(engine.workers))
            if all(w.position is not None and w.position >= ends[tp]
                   for tp, w in engine.workers.items()):
                return steps
        if idle > _MAX_IDLE_STEPS:
            raise RuntimeError(f"the engine stopped consuming the replay ({idle} steps "
                               "without a record while records wait)")


def _close_the_rest(engine: Engine, clock: EventClock, settings: Settings,
                    bucket_ms: int) -> int:
    """Move the clock past the idle timeout (and a bucket, and the allowed lateness) so every
    partition's watermark passes its last bucket; step until nothing more is published."""
    clock.ms += (settings.time.idle_timeout_s + settings.time.allowed_lateness_s) * 1000 \
        + 2 * bucket_ms
    steps = 0
    while True:
        stats = engine.step()
        steps += 1
        if stats.outputs == 0 and steps >= 2:
            return steps


def _engine_counts(stats: ReplayStats, metrics: Metrics, sink: ConditionSink) -> None:
    stats.decoded = int(metrics.counter("flowcast_readings_total", kind="road"))
    stats.late_corrections = int(metrics.counter("flowcast_late_corrections_total",
                                                 kind="road"))
    letters: Counter[str] = Counter()
    for labels, value in metrics.counters("flowcast_deadletters_total").items():
        letters[dict(labels).get("reason", "?")] += int(value)
    stats.deadletters = dict(letters)
    stats.other_outputs = dict(sink.other)
