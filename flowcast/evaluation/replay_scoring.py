"""What the engine published in a replay, as the long predictions table: its forecasts per
segment against the segment's truth from the dataset, and the baselines on the same series."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
import xarray as xr

from flowcast.city import City
from flowcast.evaluation.prediction_rows import Grid, baseline_rows
from flowcast.evaluation.replay_plan import ReplaySpan
from flowcast.models.roads.forecaster import MODEL_NAME, prepare_values


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
    """The forecast entries of road-condition messages (``publish.roads.conditions``'s JSON)."""
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
