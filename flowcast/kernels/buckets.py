"""Event-time bucket accumulation and closing for road readings (numpy + numba only).

Buckets are aligned event-time windows ``[k * bucket_ms, (k + 1) * bucket_ms)`` on epoch ms;
``k`` is the bucket id. Every bucket below ``closed_upto`` is closed. The open buckets
``closed_upto .. closed_upto + S - 1`` live in a ring of ``S`` slots (slot = ``k mod S``;
``slot_bucket[slot]`` says which bucket occupies it, ``NO_BUCKET`` when none), each slot holding
float64 accumulators per sensor: ``acc[slot, sensor, A_*]``.

:func:`accumulate` adds a whole batch in one call and gives each reading a status;
:func:`close_buckets` finalizes buckets into the history (with quality flags and imputation);
:func:`correct_late` folds readings of already closed buckets into the history.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
    column_of,
    encode_arith_count,
    encode_flow_weight,
    quantize,
    raw_good,
    var_scale,
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
    apply_late_reading,
    impute_column,
    imputed_share,
    local_flags,
    refill_left,
    stuck_step,
    update_recent,
)

# reading status codes
ACCEPTED = 0  # added to an open bucket
LATE = 1  # its bucket is closed: goes to correct_late
AHEAD = 2  # beyond the open ring: the caller dead-letters or holds it
INVALID = 3  # sensor index outside the state
CORRECTED = 4  # a late reading folded into the history
TOO_OLD = 5  # a late reading older than the history span (or than the state): dropped

# accumulator fields
A_COUNT = 0  # readings
A_FLOW = 1  # flow sum; NaN until a reading has a flow
A_OCC_SUM = 2
A_OCC_N = 3
A_FW_SUM = 4  # sum of speed * flow over readings with a speed and flow > 0
A_FW_W = 5  # sum of flow over the same readings
A_SPD_SUM = 6  # sum of speed over readings with a speed (the fallback mean)
A_SPD_N = 7
N_FIELDS = 8


def new_accumulators(n_slots: int, n_sensors: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty open-bucket state: ``acc`` (n_slots, n_sensors, N_FIELDS) float64 and
    ``slot_bucket`` (n_slots,) int64."""
    acc = np.zeros((n_slots, n_sensors, N_FIELDS), np.float64)
    acc[:, :, A_FLOW] = np.nan
    return acc, np.full(n_slots, NO_BUCKET, np.int64)


@njit(cache=True, nogil=True)
def accumulate(
    sensor: np.ndarray, ts_ms: np.ndarray, flow: np.ndarray, occupancy: np.ndarray,
    speed: np.ndarray, bucket_ms: int, closed_upto: int, acc: np.ndarray,
    slot_bucket: np.ndarray, status: np.ndarray,
) -> tuple[int, int, int, int]:
    """Add a batch of road readings (int32 sensor, int64 epoch-ms ts, float32 values, NaN =
    null) to the open buckets. Writes each reading's status (int8) and returns the counts
    ``(accepted, late, ahead, invalid)``. O(batch), no allocation."""
    n_slots = slot_bucket.shape[0]
    n_sensors = acc.shape[1]
    horizon = closed_upto + n_slots
    lo = np.int64(1)
    hi = np.int64(0)
    b = np.int64(0)
    n_acc = n_late = n_ahead = n_invalid = 0
    for i in range(sensor.shape[0]):
        s = sensor[i]
        if s < 0 or s >= n_sensors:
            status[i] = INVALID
            n_invalid += 1
            continue
        t = ts_ms[i]
        if t < lo or t >= hi:  # most readings share the previous one's bucket: skip the division
            b = t // bucket_ms
            lo = b * bucket_ms
            hi = lo + bucket_ms
        if b < closed_upto:
            status[i] = LATE
            n_late += 1
            continue
        if b >= horizon:
            status[i] = AHEAD
            n_ahead += 1
            continue
        slot = b % n_slots
        slot_bucket[slot] = b
        f = flow[i]
        o = occupancy[i]
        v = speed[i]
        acc[slot, s, A_COUNT] += 1.0
        if f == f:
            cur = acc[slot, s, A_FLOW]
            acc[slot, s, A_FLOW] = f if cur != cur else cur + f
            if v == v and f > 0.0:
                acc[slot, s, A_FW_SUM] += np.float64(v) * f
                acc[slot, s, A_FW_W] += f
        if o == o:
            acc[slot, s, A_OCC_SUM] += o
            acc[slot, s, A_OCC_N] += 1.0
        if v == v:
            acc[slot, s, A_SPD_SUM] += v
            acc[slot, s, A_SPD_N] += 1.0
        status[i] = ACCEPTED
        n_acc += 1
    return n_acc, n_late, n_ahead, n_invalid


@njit(cache=True)
def finalize(acc: np.ndarray, slot: int, s: int) -> tuple[float, float, float, float, float, int]:
    """The bucket statistics of sensor ``s`` in ``slot``: ``(count, flow sum, occupancy mean,
    speed, occupancy count, speed weight code)``; speed is flow-weighted when some reading had a
    speed and flow > 0, else the arithmetic mean of the speeds; NaN where there is no value."""
    n = acc[slot, s, A_COUNT]
    flow = acc[slot, s, A_FLOW]
    occ_n = acc[slot, s, A_OCC_N]
    occ = acc[slot, s, A_OCC_SUM] / occ_n if occ_n > 0 else np.nan
    w = acc[slot, s, A_FW_W]
    spd_n = acc[slot, s, A_SPD_N]
    if w > 0:
        return n, flow, occ, acc[slot, s, A_FW_SUM] / w, occ_n, int(encode_flow_weight(w))
    if spd_n > 0:
        return n, flow, occ, acc[slot, s, A_SPD_SUM] / spd_n, occ_n, int(encode_arith_count(spd_n))
    return n, flow, occ, np.nan, occ_n, 0


@njit(cache=True)
def reset_slot(acc: np.ndarray, slot: int) -> None:
    """Empty every sensor's accumulators in ``slot``."""
    acc[slot, :, :] = 0.0
    acc[slot, :, A_FLOW] = np.nan


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


@njit(cache=True, nogil=True)
def correct_late(
    sensor: np.ndarray, ts_ms: np.ndarray, flow: np.ndarray, occupancy: np.ndarray,
    speed: np.ndarray, status: np.ndarray, bucket_ms: int, hist: tuple, sp: np.ndarray,
    indptr: np.ndarray, indices: np.ndarray, qp: np.ndarray, recent: np.ndarray,
    corrections: np.ndarray,
) -> tuple[int, int]:
    """Fold every reading with status LATE into its closed history cell (status -> CORRECTED,
    ``corrections[sensor] += 1``), or mark it TOO_OLD when its bucket is no longer (or never
    was) in the history. Returns ``(corrected, too_old)``."""
    n_corrected = n_old = 0
    for i in range(sensor.shape[0]):
        if status[i] != LATE:
            continue
        s = np.int64(sensor[i])  # the helpers then share the close's compiled signatures
        b = ts_ms[i] // bucket_ms
        col = column_of(hist, b)
        if col < 0:
            status[i] = TOO_OLD
            n_old += 1
            continue
        apply_late_reading(hist, col, b, s, np.float64(flow[i]), np.float64(occupancy[i]),
                           np.float64(speed[i]), sp, indptr, indices, recent, qp)
        corrections[s] += 1
        status[i] = CORRECTED
        n_corrected += 1
    return n_corrected, n_old
