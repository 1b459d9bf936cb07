"""Closing scenic-spot buckets: visitors and arrivals from the pending readings (numba only).

:func:`spot_close` takes the pending readings (:mod:`flowcast.kernels.spots`) of every bucket
below the new watermark, sorts them by (spot, time) and computes per spot and bucket the
arrivals, exits, visitors inside at the bucket's end and their peak, resetting the visitors
inside at each daily opening (:func:`latest_opening`); the rules are in
:mod:`flowcast.kernels.spots`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowcast.kernels.spots import (
    DAY_MS,
    SPOT_CLAMPED,
    SPOT_HEAD_COUNT,
    SPOT_NO_DATA,
    SPOT_RESET,
)


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
