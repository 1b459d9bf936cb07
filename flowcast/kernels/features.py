"""The feature kernel shared by training and the live engine (numpy + numba only).

One call of :func:`build_features` writes a whole ``(R, F)`` float32 feature matrix: one row per
*anchor* ``(sensor, column)``, where the column is the anchor's last observed bucket ``t``.
Offline training passes the full history arrays and every (sensor, time) as anchors; the live
engine passes the ring's window and every sensor at the window's last column. Same code, same
arithmetic, so the rows agree value for value (``docs/features.md``).

Time is addressed by *offset*: offset ``o`` is the bucket ``o`` buckets before the anchor (``o =
0`` is the anchor itself). ``lut`` says where offsets live:

- ``lut`` empty: the arrays are contiguous in time and offset ``o`` is column ``t - o``;
- ``lut`` of length ``M``: every anchor shares one anchor bucket and offset ``o < M`` is column
  ``lut[o]`` (``-1`` when the arrays do not hold it). The live engine uses this to read only the
  columns a spec needs (the recent span and the seasonal buckets) from its ring.

A column outside the arrays reads exactly like a missing (NaN) value. Column order of the output
is fixed by the plan arrays and matches ``flowcast.models.roads.feature_spec.feature_names``:
lags, rolling (mean, std, min) per window, seasonal, covariate lags, the calendar's time columns
(computed per bucket in Python: day types are not a kernel), static, per sensor graph (the
undirected one, upstream, downstream: as the spec says) neighbour means then differences, flag
bits, imputed share.

Every family is one loop over all anchors (no per-row function calls: the kernel is bound by
memory reads, and a row of 36 features costs a few hundred nanoseconds).
"""

from __future__ import annotations

import numpy as np
from numba import njit

OPT_IMP_SHIFT = 0  # bit offset of the target's 2-bit imputation code in ``imputed``
OPT_IMP_WINDOW = 1  # buckets of the imputed share; 0: no such column
OPT_NB_DIFF = 2  # 1: neighbour mean minus own value, per neighbour lag
N_OPT = 3


@njit(cache=True, nogil=True)
def column_of(t: int, off: int, lut: np.ndarray) -> int:
    """Column of the bucket ``off`` buckets before anchor column ``t`` (-1: not held)."""
    if lut.shape[0] == 0:
        return t - off
    if off < lut.shape[0]:
        return lut[off]
    return -1


@njit(cache=True, nogil=True)
def value_at(x: np.ndarray, s: int, c: int) -> float:
    """``x[s, c]`` of an ``(N, T)`` array, NaN when column ``c`` lies outside it."""
    if c < 0 or c >= x.shape[1]:
        return np.nan
    return x[s, c]


@njit(cache=True, nogil=True)
def _lags(x: np.ndarray, sensor: np.ndarray, col: np.ndarray, lut: np.ndarray,
          lags: np.ndarray, out: np.ndarray, j: int) -> int:
    for r in range(sensor.shape[0]):
        s, t = sensor[r], col[r]
        for i in range(lags.shape[0]):
            out[r, j + i] = value_at(x, s, column_of(t, lags[i] - 1, lut))
    return j + lags.shape[0]


@njit(cache=True, nogil=True)
def _rolling(x: np.ndarray, sensor: np.ndarray, col: np.ndarray, lut: np.ndarray,
             windows: np.ndarray, out: np.ndarray, j: int) -> int:
    """Mean, population std and min of the non-NaN values at offsets ``0 .. w - 1``, for every
    window ``w`` in one pass back from the anchor (NaN for all three when there is none).
    Sums are float64 and shifted by the newest value, so a flat window has a std of exactly 0
    and there is no cancellation."""
    nw = windows.shape[0]
    if nw == 0:
        return j
    longest = windows.max()
    emit = np.full(longest, -1, np.int64)  # offset -> the window that ends there
    for i in range(nw):
        emit[windows[i] - 1] = i
    for r in range(sensor.shape[0]):
        s, t = sensor[r], col[r]
        n = 0
        shift = s1 = s2 = 0.0
        low = np.inf
        for off in range(longest):
            v = value_at(x, s, column_of(t, off, lut))
            if not np.isnan(v):
                if n == 0:
                    shift = v
                d = v - shift
                s1 += d
                s2 += d * d
                n += 1
                if v < low:
                    low = v
            i = emit[off]
            if i >= 0:
                k = j + 3 * i
                if n == 0:
                    out[r, k] = out[r, k + 1] = out[r, k + 2] = np.nan
                else:
                    m = s1 / n
                    out[r, k] = shift + m
                    out[r, k + 1] = np.sqrt(max(s2 / n - m * m, 0.0))
                    out[r, k + 2] = low
    return j + 3 * nw


@njit(cache=True, nogil=True)
def _covariates(cov0: np.ndarray, cov1: np.ndarray, sensor: np.ndarray, col: np.ndarray,
                lut: np.ndarray, cov_var: np.ndarray, cov_lag: np.ndarray, out: np.ndarray,
                j: int) -> int:
    for i in range(cov_var.shape[0]):
        x = cov0 if cov_var[i] == 0 else cov1
        _lags(x, sensor, col, lut, cov_lag[i : i + 1], out, j + i)
    return j + cov_var.shape[0]


@njit(cache=True, nogil=True)
def _calendar(calendar: np.ndarray, col: np.ndarray, out: np.ndarray, j: int) -> int:
    for r in range(col.shape[0]):
        for k in range(calendar.shape[1]):
            out[r, j + k] = calendar[col[r], k]
    return j + calendar.shape[1]


@njit(cache=True, nogil=True)
def _static(static: np.ndarray, sensor: np.ndarray, out: np.ndarray, j: int) -> int:
    for r in range(sensor.shape[0]):
        for k in range(static.shape[1]):
            out[r, j + k] = static[sensor[r], k]
    return j + static.shape[1]


@njit(cache=True, nogil=True)
def neighbour_mean(x: np.ndarray, row: int, c: int, indptr: np.ndarray,
                   indices: np.ndarray) -> float:
    """Mean of the non-NaN values in column ``c`` of the neighbours in CSR row ``row`` (NaN
    if none); row ``g * N + s`` is sensor ``s`` in the ``g``-th of several stacked graphs."""
    if c < 0 or c >= x.shape[1]:
        return np.nan
    total = 0.0
    n = 0
    for e in range(indptr[row], indptr[row + 1]):
        v = x[indices[e], c]
        if not np.isnan(v):
            total += v
            n += 1
    return total / n if n > 0 else np.nan


@njit(cache=True, nogil=True)
def _neighbours(x: np.ndarray, sensor: np.ndarray, col: np.ndarray, lut: np.ndarray,
                indptr: np.ndarray, indices: np.ndarray, nb_lags: np.ndarray, diff: bool,
                out: np.ndarray, j: int) -> int:
    """Per graph ``g`` of the ``G = (len(indptr) - 1) / N`` stacked in the CSR (sensor ``s``'s
    row in graph ``g`` is ``g * N + s``): the neighbour means at every lag, then (with
    ``diff``) the means minus the sensor's own values."""
    n = nb_lags.shape[0]
    block = 2 * n if diff else n
    n_sensors = x.shape[0]
    n_graphs = (indptr.shape[0] - 1) // n_sensors if n_sensors > 0 else 0
    for r in range(sensor.shape[0]):
        s = sensor[r]
        for i in range(n):
            c = column_of(col[r], nb_lags[i] - 1, lut)
            own = value_at(x, s, c)
            for g in range(n_graphs):
                k = j + g * block + i
                mean = neighbour_mean(x, g * n_sensors + s, c, indptr, indices)
                out[r, k] = mean
                if diff:
                    out[r, k + n] = mean - own
    return j + n_graphs * block


@njit(cache=True, nogil=True)
def _flags(flags: np.ndarray, sensor: np.ndarray, col: np.ndarray, flag_masks: np.ndarray,
           out: np.ndarray, j: int) -> int:
    for r in range(sensor.shape[0]):
        f = flags[sensor[r], col[r]]
        for i in range(flag_masks.shape[0]):
            out[r, j + i] = 1.0 if (f & flag_masks[i]) != 0 else 0.0
    return j + flag_masks.shape[0]


@njit(cache=True, nogil=True)
def _imputed_share(x: np.ndarray, imputed: np.ndarray, sensor: np.ndarray, col: np.ndarray,
                   lut: np.ndarray, w: int, shift: int, out: np.ndarray, j: int) -> int:
    """Share of offsets ``0 .. w - 1`` whose value is missing, imputed or not held."""
    if w <= 0:
        return j
    width = x.shape[1]
    for r in range(sensor.shape[0]):
        s, t = sensor[r], col[r]
        bad = 0
        for off in range(w):
            c = column_of(t, off, lut)
            if c < 0 or c >= width or np.isnan(x[s, c]) or (imputed[s, c] >> shift) & 3 != 0:
                bad += 1
        out[r, j] = bad / w
    return j + 1


@njit(cache=True, nogil=True)
def build_features(
    target: np.ndarray,
    cov0: np.ndarray,
    cov1: np.ndarray,
    flags: np.ndarray,
    imputed: np.ndarray,
    calendar: np.ndarray,
    static: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    anchor_sensor: np.ndarray,
    anchor_col: np.ndarray,
    lut: np.ndarray,
    lags: np.ndarray,
    windows: np.ndarray,
    seasonal: np.ndarray,
    cov_var: np.ndarray,
    cov_lag: np.ndarray,
    nb_lags: np.ndarray,
    flag_masks: np.ndarray,
    opts: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write the feature rows of ``R`` anchors into ``out`` ``(R, F)`` float32.

    History: ``target`` ``(N, T)`` float32 (NaN = missing); ``cov0``, ``cov1`` two other
    variables ``(N, T)`` float32 (an ``(N, 0)`` array reads as all missing); ``flags``
    ``(N, T)`` uint8 quality bits; ``imputed`` ``(N, T)`` uint8 packed imputation codes;
    ``calendar`` ``(T, C)`` float32 time columns per bucket (copied from each anchor's column;
    only anchor columns are read); ``static`` ``(N, S)`` float32; ``G >= 0`` sensor graphs
    stacked as one CSR, ``indptr`` int64 ``(G * N + 1,)`` / ``indices`` int32 (row ``g * N +
    s``: sensor ``s``'s neighbours in graph ``g``; one block of neighbour columns per graph).
    Anchors: ``anchor_sensor``, ``anchor_col`` int32 ``(R,)``; ``lut`` int32 offset -> column
    table (empty: contiguous).
    Plan, int64: ``lags`` (>= 1; lag k = offset k - 1), rolling ``windows`` (buckets),
    ``seasonal`` offsets, covariates ``cov_var`` (0: ``cov0``, 1: ``cov1``) / ``cov_lag``,
    neighbour ``nb_lags``, ``flag_masks`` (one 0/1 column each), ``opts`` ``(N_OPT,)``.
    """
    s, t = anchor_sensor, anchor_col
    j = _lags(target, s, t, lut, lags, out, 0)
    j = _rolling(target, s, t, lut, windows, out, j)
    j = _lags(target, s, t, lut, seasonal + 1, out, j)  # offset o is lag o + 1
    j = _covariates(cov0, cov1, s, t, lut, cov_var, cov_lag, out, j)
    j = _calendar(calendar, t, out, j)
    j = _static(static, s, out, j)
    j = _neighbours(target, s, t, lut, indptr, indices, nb_lags, opts[OPT_NB_DIFF] != 0, out, j)
    j = _flags(flags, s, t, flag_masks, out, j)
    _imputed_share(target, imputed, s, t, lut, opts[OPT_IMP_WINDOW], opts[OPT_IMP_SHIFT], out, j)
