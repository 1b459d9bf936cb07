"""Data-quality flags of closed road buckets (numpy + numba only).

In the spirit of Caltrans PeMS detector diagnostics, every (sensor, bucket) gets a uint8 bitmask
(the ``flags`` array of :mod:`flowcast.kernels.history`): the checks one bucket fails on its own
(:func:`local_flags`), a run of identical buckets (:func:`stuck_step`), and the share of recent
buckets imputed (:func:`imputed_share`). Buckets whose flags intersect the impute mask are
imputed by :mod:`flowcast.kernels.imputation`.

Parameters come as arrays so that the kernels compile once: ``qp`` float64 ``(N_QP,)`` indexed by
the ``QP_*`` constants, and per-sensor ``sp`` float32 ``(N_SP, N)`` indexed by ``SP_*``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowcast.kernels.history import (
    FLOW,
    IMP_FALLBACK,
    OCC,
    SPEED,
    column_of,
)

NO_DATA = 1
FEW_SAMPLES = 2
ZERO_FLOW_WITH_OCCUPANCY = 4
STUCK = 8
HIGH_OCCUPANCY = 16
FLOW_OCC_INCONSISTENT = 32
IMPUTED = 64
CORRECTED = 128

DEFAULT_IMPUTE_MASK = NO_DATA | ZERO_FLOW_WITH_OCCUPANCY | STUCK | FLOW_OCC_INCONSISTENT
ALL_PENDING = (IMP_FALLBACK << 0) | (IMP_FALLBACK << 2) | (IMP_FALLBACK << 4)

QP_FEW_FRACTION = 0  # FEW_SAMPLES when 0 < count < fraction * expected samples
QP_ZERO_FLOW_OCC = 1  # ZERO_FLOW_WITH_OCCUPANCY when flow == 0 and occupancy > this
QP_HIGH_OCC = 2  # HIGH_OCCUPANCY when occupancy > this
QP_CAPACITY_FACTOR = 3  # inconsistent when flow per lane-hour > capacity * this
QP_LOW_OCC = 4  # inconsistent when occupancy < this ...
QP_LOW_OCC_FLOW_VPHPL = 5  # ... while flow per lane-hour > this
QP_STUCK_BUCKETS = 6  # STUCK after this many identical buckets in a row (< 2: off)
QP_MAX_GAP = 7  # temporal imputation reaches this many buckets
QP_SHARE_WINDOW = 8  # imputed share over this many buckets
QP_RECENT_ALPHA = 9  # weight of a new good value in the recent mean (EWMA)
QP_IMPUTE_MASK = 10  # flags that make a whole bucket imputed (NO_DATA always does)
QP_BUCKETS_PER_DAY = 11
QP_BUCKET_HOURS = 12
N_QP = 13

SP_EXPECTED = 0  # expected readings per bucket
SP_LANES = 1
SP_CAPACITY = 2  # vehicles per hour per lane
SP_FREE_FLOW = 3  # km/h
N_SP = 4


@njit(cache=True)
def local_flags(
    n: float, flow: float, occ: float, expected: float, lanes: float, capacity: float,
    qp: np.ndarray,
) -> int:
    """The flags one bucket earns on its own (all but STUCK, IMPUTED and CORRECTED), from its
    reading count ``n``, raw flow sum (vehicles), occupancy mean (0..1); NaN = no value."""
    if n <= 0:
        return NO_DATA
    f = 0
    if n < qp[QP_FEW_FRACTION] * expected:
        f |= FEW_SAMPLES
    if flow == 0.0 and occ > qp[QP_ZERO_FLOW_OCC]:
        f |= ZERO_FLOW_WITH_OCCUPANCY
    if occ > qp[QP_HIGH_OCC]:
        f |= HIGH_OCCUPANCY
    if not np.isnan(flow):
        vphpl = flow / max(lanes, 1.0) / qp[QP_BUCKET_HOURS]
        if vphpl > capacity * qp[QP_CAPACITY_FACTOR]:
            f |= FLOW_OCC_INCONSISTENT
        if occ < qp[QP_LOW_OCC] and vphpl > qp[QP_LOW_OCC_FLOW_VPHPL]:
            f |= FLOW_OCC_INCONSISTENT
    return f


@njit(cache=True)
def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


@njit(cache=True)
def stuck_step(
    s: int, n: float, flow: float, occ: float, speed: float,
    last_raw: np.ndarray, stuck_run: np.ndarray, k: int,
) -> bool:
    """Advance sensor ``s``'s run of identical buckets with this bucket's raw values; True when
    the run has reached ``k`` buckets. Buckets without data neither extend nor break a run; an
    all-zero bucket (an empty road at night) never counts as stuck."""
    if n <= 0:
        return False
    same = (_same(last_raw[s, FLOW], flow) and _same(last_raw[s, OCC], occ)
            and _same(last_raw[s, SPEED], speed))
    nonzero = flow > 0.0 or occ > 0.0 or speed > 0.0
    if same and nonzero:
        stuck_run[s] += 1
    else:
        stuck_run[s] = 0
    last_raw[s, FLOW] = flow
    last_raw[s, OCC] = occ
    last_raw[s, SPEED] = speed
    return k >= 2 and stuck_run[s] >= k - 1


@njit(cache=True)
def imputed_share(hist: tuple, b: int, window: int, share: np.ndarray) -> None:
    """Per sensor, the share of the last ``window`` buckets up to ``b`` (those still in the
    ring) that carry the IMPUTED flag, into ``share`` (N,) float32."""
    flags = hist[4]
    n_sensors = flags.shape[1]
    share[:] = 0.0
    valid = 0
    for j in range(window):
        c = column_of(hist, b - j)
        if c < 0:
            continue
        valid += 1
        for s in range(n_sensors):
            if flags[c, s] & IMPUTED:
                share[s] += 1.0
    if valid > 0:
        share /= valid
