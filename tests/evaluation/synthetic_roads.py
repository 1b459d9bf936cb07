"""A small synthetic road dataset for the evaluation tests: a daily sine plus noise, 15-min
buckets, a few sensors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from flowcast.formats.dataset import make_series_dataset

BUCKET_S = 900
PER_DAY = 96
TZ = "Asia/Shanghai"


def synthetic_roads(speed: np.ndarray) -> xr.Dataset:
    """``speed`` ``(sensors, buckets)`` km/h as a road dataset from 2025-03-03, 15-min buckets."""
    times = pd.date_range("2025-03-03", periods=speed.shape[1], freq="15min", tz=TZ)
    return make_series_dataset("sensor", [f"S{i}" for i in range(len(speed))], times,
                               {"speed": speed}, {"speed": "km/h"}, interval_s=BUCKET_S,
                               timezone=TZ)


def synthetic_speed(days: int = 9, n: int = 3, seed: int = 0) -> np.ndarray:
    """``(n, days * 96)`` float32 speeds: 45 km/h, a 12 km/h daily swing, noise of 2 km/h."""
    rng = np.random.default_rng(seed)
    t = days * PER_DAY
    daily = 12 * np.sin(np.arange(t) * 2 * np.pi / PER_DAY)
    return (45 + daily[None, :] + rng.normal(0, 2, (n, t))).astype(np.float32)
