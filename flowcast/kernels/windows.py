"""Reads of the history rings as plain arrays: what the feature builders and the spot cycle see.

A :class:`Window` is a block of closed road buckets for some sensors, a :class:`SpotWindow` the
same for scenic spots. The engine's state holders fill them from the rings
(:mod:`flowcast.kernels.history`, :mod:`flowcast.kernels.spots`); offline code builds them
from a dataset. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Window:
    """Buckets ``first_bucket .. first_bucket + L - 1`` of some sensors, each array ``(n, L)``:
    ``flow`` (vehicles per bucket), ``occupancy`` (0..1), ``speed`` (km/h) float32, imputed
    where flagged (never NaN inside the history span; NaN with flags == NO_DATA and no IMPUTED
    bit where the ring does not hold the bucket), ``flags`` uint8 quality bits, ``imputed``
    uint8 per-variable codes (2 bits per variable, see :meth:`imputed_code`), ``count`` uint8
    readings (saturating at 255)."""

    first_bucket: int
    flow: np.ndarray
    occupancy: np.ndarray
    speed: np.ndarray
    flags: np.ndarray
    imputed: np.ndarray
    count: np.ndarray

    def imputed_code(self, var: int) -> np.ndarray:
        """``IMP_RAW / IMP_TEMPORAL / IMP_SPATIAL / IMP_FALLBACK`` of variable ``var``
        (``history.FLOW / OCC / SPEED``), shape ``(n, L)``."""
        return (self.imputed >> (2 * var)) & 3


@dataclass
class SpotWindow:
    """Spot buckets ``first_bucket .. first_bucket + L - 1``, each array ``(K, L)``: as in
    :class:`ClosedSpotBuckets`; buckets the ring does not hold read as NaN, count 0 and
    ``SPOT_NO_DATA``."""

    first_bucket: int
    arrivals: np.ndarray
    exits: np.ndarray
    visitors: np.ndarray
    peak: np.ndarray
    count: np.ndarray
    flags: np.ndarray
