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
(``SPOT_*``), ``col_bucket`` (H,) int64. Kernels take them as one tuple, ``shist``.
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


@njit(cache=True)
def latest_opening(t_ms: int, opens_ms: int, utc_offset_ms: int) -> int:
    """The latest opening instant (epoch ms) at or before ``t_ms``, for a spot opening
    ``opens_ms`` after local midnight in a city ``utc_offset_ms`` ahead of UTC."""
    day = (t_ms + utc_offset_ms - opens_ms) // DAY_MS
    return day * DAY_MS + opens_ms - utc_offset_ms


@njit(cache=True)
def _order(pending: tuple, take: np.ndarray, n_spots: int, closed_upto: int, bucket_ms: int
           ) -> np.ndarray:
    """Indices ``take`` of pending readings sorted by (spot, ts, gate before head count):
    a counting sort by spot, then an insertion sort per spot (readings mostly arrive in time
    order, so it is near linear; and it compiles far faster than ``np.argsort``). Readings
    equal in all three keys are interchangeable: gates are summed and heads maxed."""
    p_spot, p_ts, p_count = pending[0], pending[1], pending[4]
    start = np.zeros(n_spots + 1, np.int64)
    for j in range(take.shape[0]):
        start[p_spot[take[j]] + 1] += 1
    for k in range(n_spots):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    out = np.empty(take.shape[0], np.int64)
    key = np.empty(take.shape[0], np.int64)
    base = closed_upto * bucket_ms
    for j in range(take.shape[0]):
        i = take[j]
        pos = fill[p_spot[i]]
        fill[p_spot[i]] += 1
        out[pos] = i
        key[pos] = (p_ts[i] - base) * 2 + (0 if np.isnan(p_count[i]) else 1)
    for k in range(n_spots):
        for j in range(start[k] + 1, start[k + 1]):
            i, kj = out[j], key[j]
            m = j - 1
            while m >= start[k] and key[m] > kj:
                out[m + 1] = out[m]
                key[m + 1] = key[m]
                m -= 1
            out[m + 1] = i
            key[m + 1] = kj
    return out


@njit(cache=True, nogil=True)
def spot_close(
    closed_upto: int, up_to: int, bucket_ms: int, opens_ms: np.ndarray, utc_offset_ms: int,
    pending: tuple, n_pending: int, visitors: np.ndarray, last_reset: np.ndarray,
    shist: tuple, out_ids: np.ndarray,
) -> tuple[int, int]:
    """Close spot buckets ``[closed_upto, up_to)`` for all spots: consume their pending
    readings in (spot, time) order, carry ``visitors`` (K,) float64 and ``last_reset`` (K,)
    int64 (the last opening reset applied), write each bucket's column into ``shist`` (only the
    last H when the range is longer) and its id into ``out_ids``. Returns ``(buckets written,
    readings left pending)``; the pending buffer is compacted in place."""
    p_spot, p_ts, p_entries, p_exits, p_count = pending
    n_cols = shist[6].shape[0]
    take_n = 0
    for i in range(n_pending):
        if p_ts[i] // bucket_ms < up_to:
            take_n += 1
    take = np.empty(take_n, np.int64)
    j = 0
    for i in range(n_pending):
        if p_ts[i] // bucket_ms < up_to:
            take[j] = i
            j += 1
    order = _order(pending, take, visitors.shape[0], closed_upto, bucket_ms)
    first = max(closed_upto, up_to - n_cols)
    pos = 0
    for k in range(visitors.shape[0]):
        end = pos
        while end < order.shape[0] and p_spot[order[end]] == k:
            end += 1
        _close_spot(k, order[pos:end], closed_upto, first, up_to, bucket_ms, opens_ms[k],
                    utc_offset_ms, pending, visitors, last_reset, shist)
        pos = end
    for b in range(first, up_to):
        out_ids[b - first] = b
    keep = 0
    for i in range(n_pending):
        if p_ts[i] // bucket_ms >= up_to:
            p_spot[keep] = p_spot[i]
            p_ts[keep] = p_ts[i]
            p_entries[keep] = p_entries[i]
            p_exits[keep] = p_exits[i]
            p_count[keep] = p_count[i]
            keep += 1
    return up_to - first, keep


@njit(cache=True)
def _reset_to(k: int, t_incl: int, opens_ms: int, off_ms: int, visitors: np.ndarray,
              last_reset: np.ndarray) -> bool:
    """Apply spot ``k``'s opening reset if one happened at or before ``t_incl`` and after the
    last one applied; True when it did."""
    t_open = latest_opening(t_incl, opens_ms, off_ms)
    if t_open > last_reset[k]:
        last_reset[k] = t_open
        visitors[k] = 0.0
        return True
    return False


@njit(cache=True)
def _close_spot(
    k: int, order: np.ndarray, closed_upto: int, first: int, up_to: int, bucket_ms: int,
    opens_ms: int, off_ms: int, pending: tuple, visitors: np.ndarray, last_reset: np.ndarray,
    shist: tuple,
) -> None:
    """Run spot ``k`` through buckets ``closed_upto .. up_to - 1`` with its sorted readings."""
    p_ts, p_entries, p_exits, p_count = pending[1], pending[2], pending[3], pending[4]
    arrivals, exits, vis, peak, count, flags, col_bucket = shist
    n_cols = col_bucket.shape[0]
    r = 0
    b = closed_upto - 1
    while b + 1 < up_to:
        b += 1
        if b < first and (r == order.shape[0] or p_ts[order[r]] >= first * bucket_ms):
            b = first  # nothing to run through before the written range (resets are lazy)
        start = b * bucket_ms
        end = start + bucket_ms
        fl = 0
        # an opening before this bucket belongs to a bucket skipped by a fast-forward
        _reset_to(k, start - 1, opens_ms, off_ms, visitors, last_reset)
        top = visitors[k]
        n = 0
        e_sum = 0.0
        x_sum = 0.0
        while r < order.shape[0] and p_ts[order[r]] < end:
            t = p_ts[order[r]]
            if np.isnan(p_count[order[r]]):  # gate readings at one instant: sum, clamp once
                if _reset_to(k, t - 1, opens_ms, off_ms, visitors, last_reset):
                    fl |= SPOT_RESET
                net = 0.0
                while (r < order.shape[0] and p_ts[order[r]] == t
                       and np.isnan(p_count[order[r]])):
                    i = order[r]
                    e = 0.0 if np.isnan(p_entries[i]) else np.float64(p_entries[i])
                    x = 0.0 if np.isnan(p_exits[i]) else np.float64(p_exits[i])
                    net += e - x
                    e_sum += e
                    x_sum += x
                    n += 1
                    r += 1
                visitors[k] += net
                if visitors[k] < 0.0:
                    visitors[k] = 0.0
                    fl |= SPOT_CLAMPED
            else:  # head counts at one instant: the largest wins
                if _reset_to(k, t, opens_ms, off_ms, visitors, last_reset):
                    fl |= SPOT_RESET
                head = 0.0
                while r < order.shape[0] and p_ts[order[r]] == t:
                    i = order[r]
                    head = max(head, np.float64(p_count[i]))
                    if not np.isnan(p_entries[i]):
                        e_sum += p_entries[i]
                    if not np.isnan(p_exits[i]):
                        x_sum += p_exits[i]
                    n += 1
                    r += 1
                visitors[k] = head
                fl |= SPOT_HEAD_COUNT
            top = max(top, visitors[k])
        if _reset_to(k, end - 1, opens_ms, off_ms, visitors, last_reset):
            fl |= SPOT_RESET
        if b < first:
            continue
        if n == 0:
            fl |= SPOT_NO_DATA
        col = b % n_cols
        col_bucket[col] = b
        arrivals[col, k] = e_sum
        exits[col, k] = x_sum
        vis[col, k] = visitors[k]
        peak[col, k] = top
        count[col, k] = min(n, 65535)
        flags[col, k] = fl


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
