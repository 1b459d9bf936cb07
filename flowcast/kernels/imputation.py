"""Imputation of closed road buckets (numpy + numba only).

Cells whose quality flags (:mod:`flowcast.kernels.quality`) intersect the impute mask, and any
variable with no value, are imputed so that features never see a silent NaN: temporal first
(the last good value within ``max_gap`` buckets, linear when a good value on both sides is
known, else the same bucket yesterday), then spatial (mean of the neighbours' good values; flow
per lane, scaled to the sensor's lanes), else a fallback (the sensor's recent mean flow /
occupancy, 0 when it never had one; its free-flow speed). The ``imp`` code of each cell says
which (:mod:`flowcast.kernels.history`). When a good value arrives, the gap on its left is
re-filled linearly.

Parameters are the quality kernels' ``qp`` and ``sp`` arrays (``QP_*``, ``SP_*``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowcast.kernels.history import (
    FLOW,
    IMP_FALLBACK,
    IMP_SPATIAL,
    IMP_TEMPORAL,
    N_VARS,
    SPEED,
    cell_value,
    column_of,
    imp_code,
    raw_good,
    set_cell_value,
    with_imp_code,
)
from flowcast.kernels.quality import (
    QP_BUCKETS_PER_DAY,
    QP_MAX_GAP,
    SP_FREE_FLOW,
    SP_LANES,
)


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
    """Mean of the good values of ``s``'s graph neighbours in column ``col``, each scaled to
    ``s``'s road: flow as flow per lane times ``s``'s lanes, speed as a share of the
    neighbour's free-flow speed times ``s``'s (an expressway beside a branch road must not
    impute expressway speeds to it); NaN when no neighbour has one."""
    total = 0.0
    n = 0
    for k in range(indptr[s], indptr[s + 1]):
        t = indices[k]
        if raw_good(hist, col, t, v):
            x = cell_value(hist, col, t, v)
            if v == FLOW:
                x = x / max(sp[SP_LANES, t], 1.0) * max(sp[SP_LANES, s], 1.0)
            elif v == SPEED:
                x = x / max(sp[SP_FREE_FLOW, t], 1.0) * max(sp[SP_FREE_FLOW, s], 1.0)
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
