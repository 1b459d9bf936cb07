"""Replay: a history dataset streamed through the real engine in event time, and scored.

``flowcast replay`` answers "what would the guidance screens have shown?". It runs the
production path, not a model in isolation: readings go as Arrow frames into the in-process bus,
the :class:`~flowcast.engine.loop.Engine` decodes, buckets, closes, imputes and forecasts them
with the model (through :class:`~flowcast.engine.model_holder.ModelHolder`, as ``flowcast run
--model``), and every road-condition message it publishes is kept
(:mod:`flowcast.evaluation.replay_stream`). Those messages become the long predictions table of
:mod:`flowcast.evaluation.predictions`, per **segment** (what the engine publishes), against the
segment's truth from the dataset (the mean of its sensors, as the engine averages them), and are
scored and reported exactly as ``flowcast backtest`` does
(:mod:`flowcast.evaluation.replay_scoring`). The span and the engine's settings are
:mod:`flowcast.evaluation.replay_plan`.

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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.model_holder import RoadModelHolder
from flowcast.errors import FlowcastUserError
from flowcast.evaluation.predictions import validate_predictions
from flowcast.evaluation.replay_plan import ReplaySpan
from flowcast.evaluation.replay_scoring import (
    parse_conditions,
    published_rows,
    segment_baseline_rows,
    segment_truth,
)
from flowcast.evaluation.replay_stream import ReplayStats, stream_through_engine
from flowcast.ingest.dataset_source import RoadSeries


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


def replay_roads(roads: xr.Dataset, city: City, settings: Settings, holder: RoadModelHolder,
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
