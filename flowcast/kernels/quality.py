"""Data-quality flags and imputation of closed road buckets (numpy + numba only).

In the spirit of Caltrans PeMS detector diagnostics, every (sensor, bucket) gets a uint8 bitmask
(the ``flags`` array of :mod:`flowcast.kernels.history`). Buckets whose flags intersect the
impute mask, and any variable with no value, are imputed so that features never see a silent
NaN: temporal first (the last good value within ``max_gap`` buckets, linear when a good value on
both sides is known, else the same bucket yesterday), then spatial (mean of the neighbours' good
values; flow per lane, scaled to the sensor's lanes), else a fallback (the sensor's recent mean
flow / occupancy, 0 when it never had one; its free-flow speed).

Parameters come as arrays so that the kernels compile once: ``qp`` float64 ``(N_QP,)`` indexed by
the ``QP_*`` constants, and per-sensor ``sp`` float32 ``(N_SP, N)`` indexed by ``SP_*``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowcast.kernels.history import (
    FLOW,
    IMP_FALLBACK,
    IMP_RAW,
    IMP_SPATIAL,
    IMP_TEMPORAL,
    N_VARS,
    OCC,
    SPEED,
    cell_value,
    column_of,
    imp_code,
    merge_reading,
    raw_good,
    set_cell_value,
    with_imp_code,
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
def temporal_value(hist: tuple, s: int, b: int, v: int, qp: np.ndarray) -> float:
    """Temporal estimate of variable ``v`` of sensor ``s`` at bucket ``b`` from good values of
    the same sensor: linear between the nearest good buckets on both sides within ``max_gap``,
    else the last good value on the left within ``max_gap``, else the same bucket yesterday;
    NaN when none is known."""
    max_gap = int(qp[QP_MAX_GAP])
    left = np.nan
    left_j = 0
    for j in range(1, max_gap + 1):
        c = column_of(hist, b - j)
        if c < 0:
            break
        if raw_good(hist, c, s, v):
            left = cell_value(hist, c, s, v)
            left_j = j
            break
    if left_j > 0:
        for j in range(1, max_gap + 1):
            c = column_of(hist, b + j)
            if c < 0:
                break
            if raw_good(hist, c, s, v):
                right = cell_value(hist, c, s, v)
                return left + (right - left) * left_j / (left_j + j)
        return left
    per_day = int(qp[QP_BUCKETS_PER_DAY])
    if per_day > 0:
        c = column_of(hist, b - per_day)
        if c >= 0 and raw_good(hist, c, s, v):
            return cell_value(hist, c, s, v)
    return np.nan


@njit(cache=True)
def spatial_value(
    hist: tuple, col: int, s: int, v: int, indptr: np.ndarray, indices: np.ndarray,
    sp: np.ndarray,
) -> float:
    """Mean of the good values of ``s``'s graph neighbours in column ``col`` (flow as flow per
    lane times ``s``'s lanes); NaN when no neighbour has one."""
    total = 0.0
    n = 0
    for k in range(indptr[s], indptr[s + 1]):
        t = indices[k]
        if raw_good(hist, col, t, v):
            x = cell_value(hist, col, t, v)
            if v == FLOW:
                x = x / max(sp[SP_LANES, t], 1.0) * max(sp[SP_LANES, s], 1.0)
            total += x
            n += 1
    if n == 0:
        return np.nan
    return total / n


@njit(cache=True)
def fallback_value(s: int, v: int, sp: np.ndarray, recent: np.ndarray) -> float:
    """Last-resort value: the free-flow speed for speed; the recent mean (or 0) otherwise."""
    if v == SPEED:
        return sp[SP_FREE_FLOW, s]
    r = recent[s, v]
    if np.isnan(r):
        return 0.0
    return r


@njit(cache=True)
def impute_cell(
    hist: tuple, col: int, b: int, s: int, v: int, indptr: np.ndarray, indices: np.ndarray,
    sp: np.ndarray, recent: np.ndarray, qp: np.ndarray,
) -> None:
    """Impute variable ``v`` of sensor ``s`` at bucket ``b`` (column ``col``) in place:
    temporal, then spatial, then fallback; records which in the cell's ``imp`` code."""
    x = temporal_value(hist, s, b, v, qp)
    code = IMP_TEMPORAL
    if np.isnan(x):
        x = spatial_value(hist, col, s, v, indptr, indices, sp)
        code = IMP_SPATIAL
    if np.isnan(x):
        x = fallback_value(s, v, sp, recent)
        code = IMP_FALLBACK
    set_cell_value(hist, col, s, v, x)
    imp = hist[5]
    imp[col, s] = with_imp_code(int(imp[col, s]), v, code)


@njit(cache=True)
def impute_column(
    hist: tuple, col: int, b: int, indptr: np.ndarray, indices: np.ndarray, sp: np.ndarray,
    recent: np.ndarray, qp: np.ndarray,
) -> None:
    """Resolve every pending cell (``imp`` code ``IMP_FALLBACK`` set by the close) of column
    ``col``: all temporal estimates first, then spatial ones from the neighbours' raw values
    (never from other imputed values, so the result does not depend on sensor order), then
    fallbacks."""
    imp = hist[5]
    n_sensors = imp.shape[1]
    for s in range(n_sensors):
        if imp[col, s] == 0:
            continue
        for v in range(N_VARS):
            if imp_code(imp[col, s], v) == IMP_FALLBACK:
                x = temporal_value(hist, s, b, v, qp)
                if not np.isnan(x):
                    set_cell_value(hist, col, s, v, x)
                    imp[col, s] = with_imp_code(int(imp[col, s]), v, IMP_TEMPORAL)
    for s in range(n_sensors):
        if imp[col, s] == 0:
            continue
        for v in range(N_VARS):
            if imp_code(imp[col, s], v) == IMP_FALLBACK:
                x = spatial_value(hist, col, s, v, indptr, indices, sp)
                if np.isnan(x):
                    set_cell_value(hist, col, s, v, fallback_value(s, v, sp, recent))
                else:
                    set_cell_value(hist, col, s, v, x)
                    imp[col, s] = with_imp_code(int(imp[col, s]), v, IMP_SPATIAL)


@njit(cache=True)
def refill_left(hist: tuple, s: int, b: int, v: int, max_gap: int) -> None:
    """Bucket ``b`` holds a good value of variable ``v``: if the nearest good value on its left
    is at most ``max_gap + 1`` buckets away, re-impute the imputed buckets between them linearly
    (the right side of their gap is known now)."""
    c_right = column_of(hist, b)
    right = cell_value(hist, c_right, s, v)
    for j in range(1, max_gap + 2):
        c = column_of(hist, b - j)
        if c < 0:
            return
        if raw_good(hist, c, s, v):
            left = cell_value(hist, c, s, v)
            imp = hist[5]
            for i in range(1, j):
                ci = column_of(hist, b - j + i)
                set_cell_value(hist, ci, s, v, left + (right - left) * i / j)
                imp[ci, s] = with_imp_code(int(imp[ci, s]), v, IMP_TEMPORAL)
            return


@njit(cache=True)
def refill_around(hist: tuple, s: int, b: int, v: int, max_gap: int) -> None:
    """After bucket ``b`` became good for ``v`` (a late reading), re-fill the gaps on both of
    its sides linearly where the other side's good value is within reach."""
    refill_left(hist, s, b, v, max_gap)
    for j in range(1, max_gap + 2):
        c = column_of(hist, b + j)
        if c < 0:
            return
        if raw_good(hist, c, s, v):
            refill_left(hist, s, b + j, v, max_gap)
            return


@njit(cache=True)
def update_recent(recent: np.ndarray, s: int, v: int, x: float, alpha: float) -> None:
    """Move sensor ``s``'s recent mean of ``v`` towards the good value ``x`` (EWMA)."""
    r = recent[s, v]
    if np.isnan(r):
        recent[s, v] = x
    else:
        recent[s, v] = r + alpha * (x - r)


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


@njit(cache=True)
def apply_late_reading(
    hist: tuple, col: int, b: int, s: int, flow: float, occ: float, speed: float,
    sp: np.ndarray, indptr: np.ndarray, indices: np.ndarray, recent: np.ndarray,
    qp: np.ndarray,
) -> None:
    """Correct a closed cell with a late reading: exact raw update, flags recomputed (STUCK
    kept from the close), re-imputation, and linear refills around it. A cell flagged bad with
    data (its raw values were replaced by imputation) stays as it is: only its count goes up."""
    count, flags, imp = hist[2], hist[4], hist[5]
    mask = int(qp[QP_IMPUTE_MASK]) | NO_DATA
    old = int(flags[col, s])
    if old & mask & ~NO_DATA:
        if count[col, s] < 255:
            count[col, s] += 1
        flags[col, s] = old | CORRECTED
        return
    merge_reading(hist, col, s, flow, occ, speed)
    raw_flow = cell_value(hist, col, s, FLOW) if raw_good(hist, col, s, FLOW) else np.nan
    raw_occ = cell_value(hist, col, s, OCC) if raw_good(hist, col, s, OCC) else np.nan
    f = local_flags(float(count[col, s]), raw_flow, raw_occ, sp[SP_EXPECTED, s],
                    sp[SP_LANES, s], sp[SP_CAPACITY, s], qp)
    f |= (old & STUCK) | CORRECTED
    max_gap = int(qp[QP_MAX_GAP])
    for v in range(N_VARS):
        if f & mask:
            impute_cell(hist, col, b, s, v, indptr, indices, sp, recent, qp)
        elif imp_code(imp[col, s], v) == IMP_RAW:
            refill_around(hist, s, b, v, max_gap)
    if imp[col, s] != 0:
        f |= IMPUTED
    flags[col, s] = f
