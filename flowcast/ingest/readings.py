"""Columnar batches of readings: the shape every source decodes to and every sink encodes from.

One batch holds many readings as aligned numpy arrays, never a list of objects, so that
decoding, validation and the kernels stay vectorised. Missing values are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RoadBatch:
    """Road-detector readings.

    ``sensor``: int32 dense sensor index (see :class:`flowcast.city.City`);
    ``ts_ms``: int64 event time, epoch milliseconds UTC (end of the reporting interval);
    ``flow``: float32 vehicles counted in the reporting interval;
    ``occupancy``: float32 fraction of time occupied, 0..1;
    ``speed``: float32 mean speed, km/h.
    """

    sensor: np.ndarray
    ts_ms: np.ndarray
    flow: np.ndarray
    occupancy: np.ndarray
    speed: np.ndarray

    def __len__(self) -> int:
        return len(self.sensor)

    def take(self, mask_or_index: np.ndarray) -> RoadBatch:
        """The readings selected by a boolean mask or an index array."""
        return RoadBatch(self.sensor[mask_or_index], self.ts_ms[mask_or_index],
                         self.flow[mask_or_index], self.occupancy[mask_or_index],
                         self.speed[mask_or_index])

    @staticmethod
    def empty() -> RoadBatch:
        """A batch with no readings."""
        return RoadBatch(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.float32),
                         np.empty(0, np.float32), np.empty(0, np.float32))


@dataclass
class SpotBatch:
    """Scenic-spot gate readings.

    ``spot``: int32 dense spot index; ``ts_ms``: int64 epoch ms UTC (end of the gate interval);
    ``entries`` / ``exits``: float32 people through the gates in the interval (NaN when the
    reading is a head count); ``count``: float32 head count of people inside (NaN when the
    reading is a gate count).
    """

    spot: np.ndarray
    ts_ms: np.ndarray
    entries: np.ndarray
    exits: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.spot)

    def take(self, mask_or_index: np.ndarray) -> SpotBatch:
        """The readings selected by a boolean mask or an index array."""
        return SpotBatch(self.spot[mask_or_index], self.ts_ms[mask_or_index],
                         self.entries[mask_or_index], self.exits[mask_or_index],
                         self.count[mask_or_index])

    @staticmethod
    def empty() -> SpotBatch:
        """A batch with no readings."""
        return SpotBatch(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.float32),
                         np.empty(0, np.float32), np.empty(0, np.float32))
