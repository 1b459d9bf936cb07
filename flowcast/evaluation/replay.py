"""Replay: a history dataset streamed through the real engine in event time, and scored.

``flowcast replay`` answers "what would the guidance screens have shown?". It runs the
production path, not a model in isolation: readings go as Arrow frames into the in-process bus,
the :class:`~flowcast.engine.loop.Engine` decodes, buckets, closes, imputes and forecasts them with
the model (through :class:`~flowcast.engine.model_holder.ModelHolder`, as ``flowcast run
--model``), and
every road-condition message it publishes is kept. Those messages become the long predictions
table of ``flowcast.evaluation.metrics``, per **segment** (what the engine publishes), against the
segment's truth from the dataset (the mean of its sensors, as the engine averages them), and are
scored and reported exactly as ``flowcast backtest`` does.

How the stream is driven (``docs/replay.md``):

- one bucket at a time, in event-time order: its frames are sent, the event-time clock is set
  to the readings' time, and the engine is stepped until it has consumed them. The clock drives
  the engine's future / too-old checks and its idle watermark, so the data, not the wall clock,
  closes the buckets; nothing waits.
- the buckets before the first scored origin are the warm-up. The group's offsets are committed
  there before the engine starts, so the engine rebuilds its history from them silently (its own
  recovery path: no forecast cycles, nothing published) and publishes from the first origin on.
- after the last bucket the clock jumps past the idle timeout, so the last buckets close.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import xarray as xr
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import ValidationError
from tqdm.auto import tqdm

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.loop import Engine
from flowcast.engine.metrics import Metrics
from flowcast.engine.model_holder import ModelHolder
from flowcast.errors import FlowcastUserError
from flowcast.evaluation.backtest import Grid, baseline_rows
from flowcast.evaluation.metrics import validate_predictions
from flowcast.ingest.dataset_source import (
    RoadSeries,
    bucket_frames,
    records_per_partition,
)
from flowcast.ingest.wire.codec import ARROW_HEADERS
from flowcast.models.roads.forecaster import MODEL_NAME, RoadForecaster, prepare_values
from flowcast.transport.bus import Bus, BusConsumer

GROUP_ID = "flowcast-replay"
_MAX_IDLE_STEPS = 100


# --------------------------------------------------------------------------------------------
# Settings and the plan
# --------------------------------------------------------------------------------------------

def replay_settings(base: Settings, bucket_s: int, model: RoadForecaster) -> Settings:
    """``base`` set up to replay a dataset of ``bucket_s`` buckets with ``model``: road buckets
    of the dataset's length, the model's horizons (minutes), one reading expected per bucket
    (the dataset holds bucket aggregates), a history ring that reaches the model's longest
    look-back, a group that starts from the earliest offset, and a 1 ms poll wait (the replay
    steps the engine only when there is something to read, except to close the last buckets).
    Raises :class:`FlowcastUserError` when the model's horizons are not whole minutes or the
    bucket does not divide a day."""
    minutes = [h * bucket_s / 60 for h in model.horizons]
    if any(m != int(m) for m in minutes):
        raise FlowcastUserError(f"the model's horizons {list(model.horizons)} x {bucket_s} s "
                                "are not whole minutes, which the engine's messages need")
    data = base.model_dump()
    lookback_days = (model.lookback + base.engine.open_buckets + 2) * bucket_s / 86_400
    data["time"].update(road_bucket_s=bucket_s,
                        history_days=max(base.time.history_days, lookback_days))
    data["engine"].update(road_horizons_min=tuple(int(m) for m in minutes),
                          road_reporting_interval_s=float(bucket_s), start_from="earliest",
                          poll_timeout_ms=1)
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FlowcastUserError(f"the dataset's {bucket_s} s buckets cannot be replayed: "
                                f"{where}: {first['msg']}") from None


@dataclass(frozen=True)
class ReplaySpan:
    """Which forecasts are scored: those issued at the end of the anchor columns
    ``first_origin .. last_origin`` (inclusive), for targets up to column ``last_target``."""

    first_origin: int
    last_origin: int
    last_target: int

    @property
    def origins(self) -> np.ndarray:
        """The anchor columns, int64 ascending."""
        return np.arange(self.first_origin, self.last_origin + 1, dtype=np.int64)


def span_between(times: np.ndarray, bucket_s: int, min_history: int, start: str | None,
                 until: str | None, timezone: str) -> ReplaySpan:
    """The span of origins (issue times, ISO 8601; without an offset in ``timezone``) from
    ``start`` to ``until`` inclusive (either None: the data's first or last). Raises
    :class:`FlowcastUserError` when no origin lies between them or the first one has fewer than
    ``min_history`` buckets of history before it."""
    step = np.timedelta64(bucket_s, "s")
    origin_ms = ((times + step).astype("datetime64[ms]").astype(np.int64))
    lo = _iso_ms(start, "--from", timezone) if start is not None else origin_ms[0]
    hi = _iso_ms(until, "--until", timezone) if until is not None else origin_ms[-1]
    inside = np.flatnonzero((origin_ms >= lo) & (origin_ms <= hi) &
                            (np.arange(len(times)) < len(times) - 1))
    if not len(inside):
        raise FlowcastUserError("no forecast issue time of the dataset lies between --from "
                                "and --until; the data's issue times run from "
                                f"{_iso(origin_ms[0])} to {_iso(origin_ms[-2])}")
    first = int(inside[0])
    if first + 1 < min_history:
        need = _iso(int(origin_ms[min_history - 1]))
        raise FlowcastUserError(f"the first issue time has {first + 1} buckets of history "
                                f"before it, the model needs {min_history}; use --from {need} "
                                "or later")
    return ReplaySpan(first, int(inside[-1]), len(times) - 1)


def _iso_ms(text: str, flag: str, timezone: str) -> int:
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise FlowcastUserError(f"{flag} must be an ISO 8601 time such as "
                                f"2025-11-24T08:00+08:00, got {text!r}") from None
    if stamp is pd.NaT:
        raise FlowcastUserError(f"{flag} must be an ISO 8601 time, got {text!r}")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone)
    return int(stamp.tz_convert("UTC").value // 1_000_000)


def _iso(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()


# --------------------------------------------------------------------------------------------
# Driving the engine
# --------------------------------------------------------------------------------------------

class EventClock:
    """The engine's clock during a replay: epoch ms set by the driver to the event time of the
    data fed so far; a real monotonic clock for latencies."""

    def __init__(self, now_ms: int = 0) -> None:
        self.ms = int(now_ms)

    def now_ms(self) -> int:
        """The current event time, epoch ms."""
        return self.ms

    def monotonic(self) -> float:
        """Seconds on the process's monotonic clock."""
        return time.monotonic()


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
                          holder: ModelHolder, span: ReplaySpan, *, progress: bool = True,
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
    engine = Engine(city, settings, consumer, sink, metrics=metrics, clock=clock,
                    models=holder)
    engine.subscribe()
    stats = ReplayStats(warmup_buckets=span.first_origin - start)
    began = time.perf_counter()
    bar = tqdm(total=stop - start, unit="bucket", desc="replay", disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
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


# --------------------------------------------------------------------------------------------
# What the engine published, as the predictions table
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentTruth:
    """Per-segment series of a dataset: ``ids`` ``(G,)`` segment ids, ``values`` ``(G, T)``
    float32 the mean of each segment's sensors (NaN sensors skipped; NaN when all are), and
    ``sensors`` ``(G,)`` how many dataset sensors each segment averages."""

    ids: np.ndarray
    values: np.ndarray
    sensors: np.ndarray


def segment_truth(roads: xr.Dataset, city: City, target: str, *,
                  zero_is_missing: bool = False) -> SegmentTruth:
    """The dataset's ``target`` averaged per segment of ``city``, as the engine averages its
    sensors (NaN skipped). With ``zero_is_missing`` exact zeros are no data first (the model's
    rule). Only segments with at least one sensor in the dataset are listed."""
    ids = np.asarray(roads["sensor"].values).astype(str)
    segment = city.sensor_segment[city.sensor_index(ids)]
    values = prepare_values(np.asarray(roads[target].values, np.float32), zero_is_missing)
    present, local = np.unique(segment, return_inverse=True)
    known = ~np.isnan(values)
    total = np.zeros((len(present), values.shape[1]), np.float64)
    count = np.zeros_like(total)
    np.add.at(total, local, np.where(known, values, 0.0))
    np.add.at(count, local, known)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan).astype(np.float32)
    return SegmentTruth(city.segment_ids[present].astype(str), mean,
                        np.bincount(local, minlength=len(present)))


@dataclass(frozen=True)
class Published:
    """The forecasts in the engine's messages, one row per (segment, issue, horizon): arrays
    ``segment`` (str), ``issued_ms``, ``horizon_min``, ``valid_ms`` (int64), ``speed``,
    ``p10``, ``p90`` (float64, NaN where absent), and ``model`` (the message's model field)."""

    segment: np.ndarray
    issued_ms: np.ndarray
    horizon_min: np.ndarray
    valid_ms: np.ndarray
    speed: np.ndarray
    p10: np.ndarray
    p90: np.ndarray
    model: np.ndarray

    def __len__(self) -> int:
        return len(self.segment)


def parse_conditions(values: list[bytes]) -> Published:
    """The forecast entries of road-condition messages (``publish.messages``'s JSON)."""
    cols: dict[str, list[Any]] = {k: [] for k in ("segment", "issued_ms", "horizon_min",
                                                  "valid_ms", "speed", "p10", "p90", "model")}
    for raw in values:
        message = orjson.loads(raw)
        for item in message["forecast"]:
            cols["segment"].append(message["segment"])
            cols["issued_ms"].append(message["issued_at"])
            cols["model"].append(message["model"])
            cols["horizon_min"].append(item["horizon_min"])
            cols["valid_ms"].append(item["valid_at"])
            cols["speed"].append(item["speed"])
            cols["p10"].append(item.get("speed_p10"))
            cols["p90"].append(item.get("speed_p90"))

    def floats(name: str) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in cols[name]], np.float64)

    return Published(np.array(cols["segment"], dtype=str),
                     np.array(cols["issued_ms"], np.int64),
                     np.array(cols["horizon_min"], np.int64),
                     np.array(cols["valid_ms"], np.int64),
                     floats("speed"), floats("p10"), floats("p90"),
                     np.array(cols["model"], dtype=str))


def published_rows(published: Published, truth: SegmentTruth, times: np.ndarray,
                   bucket_s: int, span: ReplaySpan) -> tuple[pd.DataFrame, int]:
    """The long predictions rows (model ``lightgbm``) of the published forecasts whose issue
    time is the end of an origin column of ``span`` and whose target column is at most
    ``span.last_target``, against the segment truth. Forecasts the engine served from its
    baseline fallback (model field not ``lightgbm:...``) are left out; returns the rows and how
    many were left out that way. A repeated (segment, issue, horizon) keeps the last one."""
    t0_ms = int(times[0].astype("datetime64[ms]").astype(np.int64))
    bucket_ms = bucket_s * 1000
    origin_col = (published.issued_ms - t0_ms) // bucket_ms - 1
    target_col = (published.valid_ms - t0_ms) // bucket_ms - 1
    seg = pd.Index(truth.ids).get_indexer(published.segment)
    scored = ((origin_col >= span.first_origin) & (origin_col <= span.last_origin)
              & (target_col <= span.last_target) & (seg >= 0))
    from_model = np.char.startswith(published.model.astype(str), f"{MODEL_NAME}:")
    fallback = int((scored & ~from_model).sum())
    keep = np.flatnonzero(scored & from_model)
    step = np.timedelta64(bucket_s, "s")
    origin = times[origin_col[keep]] + step
    target = times[target_col[keep]] + step
    table = pd.DataFrame({
        "series": published.segment[keep],
        "origin": pd.to_datetime(origin).tz_localize("UTC"),
        "horizon_steps": (published.horizon_min[keep] * 60) // bucket_s,
        "target_time": pd.to_datetime(target).tz_localize("UTC"),
        "y_true": truth.values[seg[keep], target_col[keep]].astype(np.float64),
        "y_pred": published.speed[keep],
        "p10": published.p10[keep],
        "p90": published.p90[keep],
        "model": MODEL_NAME,
    })
    table = table.drop_duplicates(["series", "origin", "horizon_steps"], keep="last")
    if table["p10"].isna().all():
        table = table.drop(columns=["p10", "p90"])
    return table, fallback


def segment_baseline_rows(truth: SegmentTruth, times: np.ndarray, bucket_s: int,
                          span: ReplaySpan, horizons: tuple[int, ...]) -> pd.DataFrame:
    """Every road baseline per segment at the span's origins, from the segment series (the
    backtest's baselines, on the series the engine publishes)."""
    grid = Grid(truth.ids, times, bucket_s, truth.values)
    return baseline_rows(grid, truth.values, span.origins, horizons,
                         last_target=span.last_target)


# --------------------------------------------------------------------------------------------
# The whole replay
# --------------------------------------------------------------------------------------------

@dataclass
class ReplayResult:
    """A replay's predictions table (the engine's forecasts as model ``lightgbm`` and every
    baseline, per segment), its span, stream statistics, the messages received and how many
    forecast rows came from the engine's baseline fallback."""

    predictions: pd.DataFrame
    span: ReplaySpan
    stats: ReplayStats
    messages: int
    fallback_rows: int
    model_version: str
    zero_is_missing: bool
    horizons: tuple[int, ...]


def replay_roads(roads: xr.Dataset, city: City, settings: Settings, holder: ModelHolder,
                 span: ReplaySpan, series: RoadSeries, *, progress: bool = True) -> ReplayResult:
    """Stream the dataset through the engine serving ``holder``'s model and build the scored
    table (``settings`` from :func:`replay_settings`). Raises :class:`FlowcastUserError` when
    the engine published no forecast of the span."""
    model = holder.current()
    if model is None:
        raise FlowcastUserError(f"no model could be loaded from {holder.path}")
    values, stats = stream_through_engine(series, city, settings, holder, span,
                                          progress=progress)
    bucket_s = int(roads.attrs["interval_s"])
    times = np.asarray(roads["time"].values).astype("datetime64[ns]")
    truth = segment_truth(roads, city, model.target, zero_is_missing=model.zero_is_missing)
    own, fallback = published_rows(parse_conditions(values), truth, times, bucket_s, span)
    if own.empty:
        raise FlowcastUserError("the engine published no model forecast for the replayed span "
                                f"({len(values)} messages in all, {fallback} from its baseline "
                                "fallback); check the engine log above")
    base = segment_baseline_rows(truth, times, bucket_s, span, model.horizons)
    table = validate_predictions(pd.concat([own, base], ignore_index=True))
    return ReplayResult(table, span, stats, len(values), fallback, model.version,
                        model.zero_is_missing, model.horizons)


def replay_meta(result: ReplayResult, settings: Settings) -> dict[str, Any]:
    """The replay's own facts for ``metrics.json``'s ``meta``."""
    s = result.stats
    return {
        "mode": "replay through the streaming engine",
        "model_mode": "as served by the engine",
        "protocol": "replay",
        "horizons_steps": list(result.horizons),
        "series": "segments (mean of their sensors)",
        "zeros_in_scoring": "missing" if result.zero_is_missing else "kept",
        "first_origin_column": result.span.first_origin,
        "last_origin_column": result.span.last_origin,
        "messages": result.messages,
        "fallback_rows": result.fallback_rows,
        "stream": {"readings": s.readings, "records": s.records, "buckets": s.buckets,
                   "warmup_buckets": s.warmup_buckets, "engine_steps": s.steps,
                   "seconds": round(s.seconds, 2),
                   "readings_per_s": round(s.readings_per_s),
                   "decoded": s.decoded, "deadletters": s.deadletters,
                   "late_corrections": s.late_corrections},
        "engine": {"partitions": settings.topics.partitions,
                   "allowed_lateness_s": settings.time.allowed_lateness_s,
                   "idle_timeout_s": settings.time.idle_timeout_s,
                   "history_days": settings.time.history_days},
    }

