"""Scenic-spot visitors and arrivals per event-time bucket (numpy + numba only).

Gate readings carry the entries and exits of one gate interval; head counts carry the number
of visitors inside. Per spot and bucket (default 15 min) the close computes arrivals (sum of
entries), exits, the visitors inside at the bucket's end and their peak within it.

Visitors inside are a running sum of ``entries - exits`` in event-time order, never negative,
reset to 0 at the spot's opening time each local day; a head count sets the visitors inside at
its timestamp and the running sum continues from it. Accepted readings wait in a pending buffer
until their bucket closes; the close sorts them by (spot, time), so readings arriving out of
order inside the open window give exactly the in-order result. Ties at one instant: gate
readings first (summed, then clamped once), then the opening reset, then head counts (the
largest, when several disagree).

The history ring is ``(H, K)`` per array, column = bucket mod H, like the road history:
``arrivals, exits, visitors, peak`` float32, ``count`` uint16 readings, ``flags`` uint8
(``SPOT_*``), ``col_bucket`` (H,) int64. Kernels take them as one tuple, ``shist``. This module
holds the layout, accepts readings into the pending buffer and reads windows;
:mod:`flowcast.kernels.spot_close` closes buckets.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowcast.kernels.buckets import ACCEPTED, AHEAD, INVALID, LATE
from flowcast.kernels.history import NO_BUCKET

SPOT_NO_DATA = 1  # no reading in the bucket
SPOT_HEAD_COUNT = 2  # a head count set the visitors inside
SPOT_RESET = 4  # the daily opening reset happened in the bucket
SPOT_CLAMPED = 8  # exits exceeded visitors: the running sum was clamped at 0

DAY_MS = 86_400_000


def new_spot_history(n_spots: int, n_buckets: int) -> tuple[np.ndarray, ...]:
    """Empty spot history ``(arrivals, exits, visitors, peak, count, flags, col_bucket)``."""
    shape = (n_buckets, n_spots)
    return (
        np.full(shape, np.nan, np.float32),
        np.full(shape, np.nan, np.float32),
        np.full(shape, np.nan, np.float32),
        np.full(shape, np.nan, np.float32),
        np.zeros(shape, np.uint16),
        np.zeros(shape, np.uint8),
        np.full(n_buckets, NO_BUCKET, np.int64),
    )


def new_pending(capacity: int) -> tuple[np.ndarray, ...]:
    """An empty pending buffer ``(spot, ts_ms, entries, exits, count)`` of ``capacity``."""
    return (np.empty(capacity, np.int32), np.empty(capacity, np.int64),
            np.empty(capacity, np.float32), np.empty(capacity, np.float32),
            np.empty(capacity, np.float32))


@njit(cache=True, nogil=True)
def spot_accept(
    spot: np.ndarray, ts_ms: np.ndarray, entries: np.ndarray, exits: np.ndarray,
    count: np.ndarray, bucket_ms: int, closed_upto: int, n_open: int, n_spots: int,
    pending: tuple, n_pending: int, status: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """Classify a batch of spot readings (status int8 per reading) and append the accepted ones
    (bucket in ``[closed_upto, closed_upto + n_open)``) to ``pending``, whose capacity must be
    at least ``n_pending + len(spot)``. Returns ``(n_pending, accepted, late, ahead, invalid)``."""
    p_spot, p_ts, p_entries, p_exits, p_count = pending
    n_acc = n_late = n_ahead = n_invalid = 0
    for i in range(spot.shape[0]):
        k = spot[i]
        if k < 0 or k >= n_spots:
            status[i] = INVALID
            n_invalid += 1
            continue
        b = ts_ms[i] // bucket_ms
        if b < closed_upto:
            status[i] = LATE
            n_late += 1
        elif b >= closed_upto + n_open:
            status[i] = AHEAD
            n_ahead += 1
        else:
            p_spot[n_pending] = k
            p_ts[n_pending] = ts_ms[i]
            p_entries[n_pending] = entries[i]
            p_exits[n_pending] = exits[i]
            p_count[n_pending] = count[i]
            n_pending += 1
            status[i] = ACCEPTED
            n_acc += 1
    return n_pending, n_acc, n_late, n_ahead, n_invalid


@njit(cache=True, nogil=True)
def spot_read_window(
    shist: tuple, end_bucket: int, out_vals: np.ndarray, out_count: np.ndarray,
    out_flags: np.ndarray,
) -> None:
    """Read spot buckets ``end_bucket - L .. end_bucket - 1`` into ``out_vals`` (4, K, L)
    float32 (arrivals, exits, visitors, peak), ``out_count`` (K, L) uint16, ``out_flags``
    (K, L) uint8; stale columns read as NaN, 0 and SPOT_NO_DATA."""
    arrivals, exits, vis, peak, count, flags, col_bucket = shist
    n_cols = col_bucket.shape[0]
    length = out_flags.shape[1]
    for j in range(length):
        b = end_bucket - length + j
        col = b % n_cols
        if col_bucket[col] != b:
            out_vals[:, :, j] = np.nan
            out_count[:, j] = 0
            out_flags[:, j] = SPOT_NO_DATA
            continue
        for k in range(out_flags.shape[0]):
            out_vals[0, k, j] = arrivals[col, k]
            out_vals[1, k, j] = exits[col, k]
            out_vals[2, k, j] = vis[col, k]
            out_vals[3, k, j] = peak[col, k]
            out_count[k, j] = count[col, k]
            out_flags[k, j] = flags[col, k]
