"""Event-time bucket accumulation for road readings (numpy + numba only).

Buckets are aligned event-time windows ``[k * bucket_ms, (k + 1) * bucket_ms)`` on epoch ms;
``k`` is the bucket id. Every bucket below ``closed_upto`` is closed. The open buckets
``closed_upto .. closed_upto + S - 1`` live in a ring of ``S`` slots (slot = ``k mod S``;
``slot_bucket[slot]`` says which bucket occupies it, ``NO_BUCKET`` when none), each slot holding
float64 accumulators per sensor: ``acc[slot, sensor, A_*]``.

:func:`accumulate` adds a whole batch in one call and gives each reading a status;
:func:`flowcast.kernels.bucket_close.close_buckets` finalizes buckets into the history (with
quality flags and imputation); :func:`correct_late` folds readings of already closed buckets
into the history (:mod:`flowcast.kernels.late_readings`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowcast.kernels.history import (
    NO_BUCKET,
    column_of,
    encode_arith_count,
    encode_flow_weight,
)
from flowcast.kernels.late_readings import apply_late_reading

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
