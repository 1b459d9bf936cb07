"""What a replay covers: the engine's settings for a dataset and a model, and the span of
forecast issue times that is scored (:mod:`flowcast.evaluation.replay`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import ValidationError

from flowcast.config import Settings
from flowcast.errors import FlowcastUserError
from flowcast.models.roads.forecaster import RoadForecaster


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
