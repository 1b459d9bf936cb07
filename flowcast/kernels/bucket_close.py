"""Closing road buckets into the history ring (numpy + numba only).

:func:`close_buckets` finalizes every bucket below a new watermark, including those nobody
reported in, from the open-bucket ring of :mod:`flowcast.kernels.buckets` into the history
(:mod:`flowcast.kernels.history`) for all sensors: raw statistics, quality flags
(:mod:`flowcast.kernels.quality`) and imputation (:mod:`flowcast.kernels.imputation`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowcast.kernels.buckets import (
    finalize,
    reset_slot,
)
from flowcast.kernels.history import (
    COUNT_MAX,
    FLOW,
    IMP_FALLBACK,
    IMP_RAW,
    N_VARS,
    NO_BUCKET,
    OCC,
    SPEED,
    cell_value,
    quantize,
    raw_good,
    var_scale,
)
from flowcast.kernels.imputation import (
    impute_column,
    refill_left,
    update_recent,
)
from flowcast.kernels.quality import (
    IMPUTED,
    NO_DATA,
    QP_IMPUTE_MASK,
    QP_MAX_GAP,
    QP_RECENT_ALPHA,
    QP_SHARE_WINDOW,
    QP_STUCK_BUCKETS,
    SP_CAPACITY,
    SP_EXPECTED,
    SP_LANES,
    STUCK,
    imputed_share,
    local_flags,
    stuck_step,
)


@njit(cache=True)
def _write_raw(
    hist: tuple, col: int, s: int, n: float, raw: np.ndarray, occ_n: float, sw_code: int,
    f: int, mask: int,
) -> None:
    """Store one cell's raw statistics and flags; mark the variables to impute as pending."""
    vals, sw, count, occ_count, flags, imp = hist[0], hist[1], hist[2], hist[3], hist[4], hist[5]
    code = 0
    for v in range(N_VARS):
        vals[v, col, s] = quantize(raw[v], var_scale(v))
        if (f & mask) or np.isnan(raw[v]):
            code |= IMP_FALLBACK << (2 * v)
    sw[col, s] = sw_code
    count[col, s] = min(n, COUNT_MAX)
    occ_count[col, s] = min(occ_n, COUNT_MAX)
    flags[col, s] = f
    imp[col, s] = code


@njit(cache=True)
def close_one(
    acc: np.ndarray, slot: int, has_data: bool, b: int, hist: tuple, sp: np.ndarray,
    indptr: np.ndarray, indices: np.ndarray, qp: np.ndarray, qstate: tuple,
) -> tuple[int, int]:
    """Close bucket ``b`` for every sensor (from ``slot`` when ``has_data``, else empty) into
    its history column; returns ``(sensors without data, sensors imputed)``."""
    last_raw, stuck_run, recent, share = qstate
    flags, imp, col_bucket = hist[4], hist[5], hist[6]
    n_sensors = flags.shape[1]
    col = b % col_bucket.shape[0]
    col_bucket[col] = b
    mask = int(qp[QP_IMPUTE_MASK]) | NO_DATA
    k_stuck = int(qp[QP_STUCK_BUCKETS])
    raw = np.empty(N_VARS, np.float64)
    for s in range(n_sensors):
        if has_data:
            n, flow, occ, speed, occ_n, sw_code = finalize(acc, slot, s)
        else:
            n, flow, occ, speed, occ_n, sw_code = 0.0, np.nan, np.nan, np.nan, 0.0, 0
        # the comparisons (stuck, flags) use the float32 values a reading would carry
        raw[FLOW] = np.float32(flow)
        raw[OCC] = np.float32(occ)
        raw[SPEED] = np.float32(speed)
        f = local_flags(n, raw[FLOW], raw[OCC], sp[SP_EXPECTED, s], sp[SP_LANES, s],
                        sp[SP_CAPACITY, s], qp)
        if stuck_step(s, n, raw[FLOW], raw[OCC], raw[SPEED], last_raw, stuck_run, k_stuck):
            f |= STUCK
        _write_raw(hist, col, s, n, raw, occ_n, sw_code, f, mask)
    impute_column(hist, col, b, indptr, indices, sp, recent, qp)
    alpha = qp[QP_RECENT_ALPHA]
    max_gap = int(qp[QP_MAX_GAP])
    n_no_data = n_imputed = 0
    for s in range(n_sensors):
        for v in range(N_VARS):
            if raw_good(hist, col, s, v):
                update_recent(recent, s, v, cell_value(hist, col, s, v), alpha)
                refill_left(hist, s, b, v, max_gap)
        if imp[col, s] != IMP_RAW:
            flags[col, s] |= IMPUTED
            n_imputed += 1
        if flags[col, s] & NO_DATA:
            n_no_data += 1
    imputed_share(hist, b, int(qp[QP_SHARE_WINDOW]), share)
    return n_no_data, n_imputed


@njit(cache=True, nogil=True)
def close_buckets(
    acc: np.ndarray, slot_bucket: np.ndarray, closed_upto: int, up_to: int, hist: tuple,
    sp: np.ndarray, indptr: np.ndarray, indices: np.ndarray, qp: np.ndarray, qstate: tuple,
    out_ids: np.ndarray, out_no_data: np.ndarray, out_imputed: np.ndarray,
) -> int:
    """Close every bucket in ``[closed_upto, up_to)``, including buckets nobody reported in,
    writing each into the history for all sensors. When the range is longer than the history
    only its last ``H`` buckets are written (older ones would be overwritten at once). Fills
    ``out_ids`` / ``out_no_data`` / ``out_imputed`` (int64, >= the number written) and returns
    how many buckets were written."""
    n_cols = hist[6].shape[0]
    n_slots = slot_bucket.shape[0]
    first = max(closed_upto, up_to - n_cols)
    for slot in range(n_slots):
        held = slot_bucket[slot]
        if held != NO_BUCKET and held < first:
            reset_slot(acc, slot)
            slot_bucket[slot] = NO_BUCKET
    k = 0
    for b in range(first, up_to):
        slot = b % n_slots
        has_data = slot_bucket[slot] == b
        n_no_data, n_imputed = close_one(acc, slot, has_data, b, hist, sp, indptr, indices,
                                         qp, qstate)
        if has_data:
            reset_slot(acc, slot)
            slot_bucket[slot] = NO_BUCKET
        out_ids[k] = b
        out_no_data[k] = n_no_data
        out_imputed[k] = n_imputed
        k += 1
    return k
