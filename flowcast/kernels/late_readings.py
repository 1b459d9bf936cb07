"""Late road readings folded into already closed history cells (numpy + numba only).

A reading whose bucket has closed but is still in the history ring corrects its cell exactly
as if it had arrived on time (:func:`merge_reading`: flow sum, occupancy mean, flow-weighted
speed from the stored weights); the cell's flags are then recomputed and its value re-imputed,
and the gaps around it re-filled (:func:`apply_late_reading`).
:func:`flowcast.kernels.buckets.correct_late` does this for every reading of a batch that
:func:`flowcast.kernels.buckets.accumulate` marked LATE.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowcast.kernels.history import (
    COUNT_MAX,
    FLOW,
    IMP_RAW,
    N_VARS,
    OCC,
    SPEED,
    SW_ARITH,
    SW_MAX,
    WEIGHT_SCALE,
    cell_value,
    encode_arith_count,
    encode_flow_weight,
    imp_code,
    raw_good,
    set_cell_value,
    with_imp_code,
)
from flowcast.kernels.imputation import (
    impute_cell,
    refill_around,
)
from flowcast.kernels.quality import (
    CORRECTED,
    IMPUTED,
    NO_DATA,
    QP_IMPUTE_MASK,
    QP_MAX_GAP,
    SP_CAPACITY,
    SP_EXPECTED,
    SP_LANES,
    STUCK,
    local_flags,
)


@njit(cache=True)
def merge_reading(hist: tuple, col: int, s: int, flow: float, occ: float, speed: float) -> None:
    """Add one late reading into a closed cell whose raw statistics are intact, exactly as if it
    had arrived on time: flow sum, occupancy mean and flow-weighted speed are updated from the
    stored weights. A variable whose value is imputed had no raw data, so it restarts from the
    reading. Only raw statistics change here; flags and imputation are the caller's."""
    count, occ_n, imp = hist[2], hist[3], hist[5]
    code = int(imp[col, s])
    if count[col, s] < COUNT_MAX:
        count[col, s] += 1
    if not np.isnan(flow):
        old = cell_value(hist, col, s, FLOW)
        fresh = imp_code(code, FLOW) != IMP_RAW or np.isnan(old)
        set_cell_value(hist, col, s, FLOW, flow if fresh else old + flow)
        code = with_imp_code(code, FLOW, IMP_RAW)
    if not np.isnan(occ):
        n = occ_n[col, s]
        if n == 0 or imp_code(code, OCC) != IMP_RAW:
            set_cell_value(hist, col, s, OCC, occ)
            occ_n[col, s] = 1
        else:
            old = cell_value(hist, col, s, OCC)
            set_cell_value(hist, col, s, OCC, (old * n + occ) / (n + 1))
            if n < COUNT_MAX:
                occ_n[col, s] = n + 1
        code = with_imp_code(code, OCC, IMP_RAW)
    if not np.isnan(speed):
        _merge_speed(hist, col, s, flow, speed, imp_code(code, SPEED) != IMP_RAW)
        code = with_imp_code(code, SPEED, IMP_RAW)
    imp[col, s] = code


@njit(cache=True)
def _merge_speed(hist: tuple, col: int, s: int, flow: float, speed: float, fresh: bool) -> None:
    """Fold one speed into a cell's speed and weight code (``fresh``: no raw speed yet)."""
    sw = hist[1]
    code = int(sw[col, s])
    if fresh:
        code = 0
    usable_flow = (not np.isnan(flow)) and flow > 0.0
    old = cell_value(hist, col, s, SPEED)
    if usable_flow:
        if code != 0 and (code & SW_ARITH) == 0:
            w = code / WEIGHT_SCALE
            set_cell_value(hist, col, s, SPEED, (old * w + speed * flow) / (w + flow))
            sw[col, s] = encode_flow_weight(w + flow)
        else:  # first usable flow: the flow-weighted mean replaces the arithmetic fallback
            set_cell_value(hist, col, s, SPEED, speed)
            sw[col, s] = encode_flow_weight(flow)
    elif code == 0:
        set_cell_value(hist, col, s, SPEED, speed)
        sw[col, s] = encode_arith_count(1.0)
    elif code & SW_ARITH:
        n = code & SW_MAX
        set_cell_value(hist, col, s, SPEED, (old * n + speed) / (n + 1))
        sw[col, s] = encode_arith_count(n + 1.0)


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
