"""A plain-numpy reference of the road feature rows, and the random histories the road feature
tests build them from (tests/models/roads/, tests/models/test_calendar.py)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from flowcast import daytypes
from flowcast.city import Csr
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FLAG_BITS, STATIC_NAMES, FeatureSpec

TZ = "Asia/Shanghai"
BUCKET_S = 300
# 2025-09-29 00:00 in Shanghai (UTC+8): a Monday, two days before National Day (Oct 1-8);
# Sunday 2025-09-28 is a make-up workday.
START = pd.Timestamp("2025-09-28 00:00", tz=TZ)
B0 = int(START.timestamp()) // BUCKET_S


def ring_graph(n: int) -> Csr:
    src = np.repeat(np.arange(n), 2)
    dst = (src + np.tile([1, 3], n)) % n
    return Csr.from_edges(n, src, dst)


def random_history(n: int = 6, t: int = 700, seed: int = 3,
                   start_bucket: int = B0) -> FeatureHistory:
    """``n`` sensors by ``t`` buckets of random values (8 % missing), flags, imputed codes and
    static attributes, with a ring graph and upstream / downstream chains."""
    rng = np.random.default_rng(seed)
    values = {
        "speed": rng.uniform(15, 90, (n, t)).astype(np.float32),
        "flow": rng.integers(0, 60, (n, t)).astype(np.float32),
        "occupancy": rng.uniform(0, 0.6, (n, t)).astype(np.float32),
    }
    for x in values.values():
        x[rng.random((n, t)) < 0.08] = np.nan
    static = rng.uniform(0, 4, (n, len(STATIC_NAMES))).astype(np.float32)
    static[1, 2] = np.nan
    return FeatureHistory(
        values, rng.integers(0, 256, (n, t)).astype(np.uint8),
        rng.integers(0, 64, (n, t)).astype(np.uint8),
        start_bucket + np.arange(t, dtype=np.int64), BUCKET_S, TZ, static, ring_graph(n),
        upstream=chain(n, -1), downstream=chain(n, 1))


def chain(n: int, step: int) -> Csr:
    """Sensor ``s`` linked to ``s + step`` and ``s + 2 * step`` (those inside ``0 .. n - 1``)."""
    src = np.repeat(np.arange(n), 2)
    dst = src + np.tile([step, 2 * step], n)
    keep = (dst >= 0) & (dst < n)
    return Csr.from_edges(n, src[keep], dst[keep])


def _at(x: np.ndarray, s: int, c: int) -> float:
    return float(x[s, c]) if 0 <= c < x.shape[1] else np.nan


def _stats(x: np.ndarray, s: int, t: int, w: int) -> list[float]:
    v = np.array([_at(x, s, c) for c in range(t - w + 1, t + 1)])
    v = v[~np.isnan(v)]
    return [v.mean(), v.std(), v.min()] if len(v) else [np.nan] * 3


def holiday_days(date: dt.date, cap: int) -> tuple[float, float]:
    def hol(d: dt.date) -> bool:
        return daytypes.day_type(d) == daytypes.HOLIDAY

    to_h = next((k for k in range(cap + 1) if hol(date + dt.timedelta(days=k))), cap)
    from_h = next((k for k in range(cap + 1) if hol(date - dt.timedelta(days=k))), cap)
    return float(to_h), float(from_h)


def _time_ref(bucket: int, spec: FeatureSpec, tz: str) -> list[float]:
    local = dt.datetime.fromtimestamp(bucket * spec.bucket_s, ZoneInfo(tz))
    sec = local.hour * 3600 + local.minute * 60 + local.second
    out: list[float] = []
    if spec.time_features:
        out += [np.sin(2 * np.pi * sec / 86_400), np.cos(2 * np.pi * sec / 86_400),
                sec // spec.bucket_s, local.weekday(), daytypes.day_type(local.date())]
    if spec.holiday_distance:
        out += list(holiday_days(local.date(), spec.holiday_cap_days))
    return out


def reference_row(h: FeatureHistory, spec: FeatureSpec, s: int, t: int) -> list[float]:
    x = h.values[spec.target]
    row = [_at(x, s, t - k + 1) for k in spec.lags]
    row += [v for w in spec.windows for v in _stats(x, s, t, w)]
    row += [_at(x, s, t - p + a) for p in spec.seasonal for a in spec.seasonal_ahead]
    row += [_at(h.values[v], s, t - k + 1) for v, k in spec.covariates]
    row += _time_ref(int(h.buckets[t]), spec, h.timezone)
    row += [h.static[s, STATIC_NAMES.index(n)] for n in spec.static]
    for direction in spec.neighbour_directions:
        nbs = h.graph_for(direction).neighbours(s)
        means = []
        for k in spec.neighbour_lags:
            v = np.array([_at(x, j, t - k + 1) for j in nbs])
            v = v[~np.isnan(v)]
            means.append(v.mean() if len(v) else np.nan)
        row += means
        if spec.neighbour_diff:
            row += [m - _at(x, s, t - k + 1)
                    for m, k in zip(means, spec.neighbour_lags, strict=True)]
    row += [float(int(h.flags[s, t]) & FLAG_BITS[f] != 0) for f in spec.flags]
    if spec.imputed_window:
        shift = 2 * {"flow": 0, "occupancy": 1, "speed": 2}[spec.target]
        bad = [c < 0 or np.isnan(x[s, c]) or (int(h.imputed[s, c]) >> shift) & 3 != 0
               for c in range(t - spec.imputed_window + 1, t + 1)]
        row.append(sum(bad) / spec.imputed_window)
    return row


SPEC_SMALL = FeatureSpec(lags=(1, 2, 4), windows=(3, 7), seasonal=(288,),
                         seasonal_ahead=(0, 3), covariates=(("occupancy", 1), ("flow", 2)),
                         holiday_distance=True, holiday_cap_days=5, neighbour_lags=(1, 2),
                         flags=("no_data", "stuck", "imputed", "corrected"), imputed_window=6)
SPEC_DIRECTED = FeatureSpec(lags=(1, 2), windows=(3,), seasonal=(288,), neighbour_lags=(1, 3),
                            neighbour_directions=("down", "all", "up"), imputed_window=4)
