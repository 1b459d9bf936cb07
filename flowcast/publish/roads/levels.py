"""Road condition levels and travel times from speeds.

Five levels (DESIGN.md "Road levels"): 1 smooth, 2 basically smooth, 3 light congestion,
4 moderate congestion, 5 severe congestion. The bands depend on the road class and come from
configuration (:class:`flowcast.config.LevelSettings`).
"""

from __future__ import annotations

import numpy as np

from flowcast.city import ROAD_CLASSES
from flowcast.config import LevelSettings

LEVEL_NAMES: tuple[str, ...] = (
    "smooth", "basically smooth", "light congestion", "moderate congestion", "severe congestion"
)


def band_table(settings: LevelSettings) -> np.ndarray:
    """Thresholds as a ``(len(ROAD_CLASSES), 4)`` float64 array in road-class code order."""
    return np.array([getattr(settings, name) for name in ROAD_CLASSES], dtype=np.float64)


def levels(speed_kmh: np.ndarray, road_class: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Congestion level 1..5 (int8) for each speed; ``road_class`` holds class codes of the same
    shape (or broadcastable). NaN speeds get level 0, meaning unknown."""
    speed = np.asarray(speed_kmh, dtype=np.float64)
    thresholds = bands[np.asarray(road_class, dtype=np.int64)]
    at_or_below = speed[..., None] <= np.broadcast_to(thresholds, (*speed.shape, 4))
    level = 1 + at_or_below.sum(axis=-1)
    return np.where(np.isnan(speed), 0, level).astype(np.int8)


def travel_times_s(length_m: np.ndarray, speed_kmh: np.ndarray, min_speed_kmh: float) -> np.ndarray:
    """Seconds to cross each segment at ``speed_kmh``; the speed is floored at ``min_speed_kmh``
    so a stopped road gives a long but finite time. NaN speeds give NaN."""
    speed = np.maximum(np.asarray(speed_kmh, dtype=np.float64), min_speed_kmh)
    return np.asarray(length_m, dtype=np.float64) / (speed / 3.6)
