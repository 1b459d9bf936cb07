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
is fixed by the plan arrays and matches ``flowcast.models.features.feature_names``:
lags, rolling (mean, std, min) per window, seasonal, covariate lags, time (sin, cos, bucket of
the day, day of week, day type[, days to / from a holiday]), static, neighbour means, neighbour
differences, flag bits, imputed share.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CAL_SECOND = 0  # local seconds since midnight at the bucket's start
CAL_DOW = 1  # local day of week, Monday = 0
CAL_DAYTYPE = 2  # flowcast.daytypes code of the local date
CAL_TO_HOLIDAY = 3  # days from the local date to the next public holiday (0 on one)
CAL_FROM_HOLIDAY = 4  # days since the last public holiday (0 on one)
N_CAL = 5

OPT_IMP_SHIFT = 0  # bit offset of the target's 2-bit imputation code in ``imputed``
OPT_IMP_WINDOW = 1  # buckets of the imputed share; 0: no such column
OPT_TIME = 2  # 1: the five time columns
OPT_HOLIDAY = 3  # 1: days to / from the nearest holiday (two more columns)
OPT_NB_DIFF = 4  # 1: neighbour mean minus own value, per neighbour lag
OPT_BUCKET_S = 5  # bucket length, seconds (bucket of the day = seconds of day // bucket_s)
N_OPT = 6

TWO_PI = 2.0 * np.pi
DAY_S = 86_400.0


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
def _lags(x: np.ndarray, s: int, t: int, lut: np.ndarray, lags: np.ndarray,
          row: np.ndarray, j: int) -> int:
    for i in range(lags.shape[0]):
        row[j + i] = value_at(x, s, column_of(t, lags[i] - 1, lut))
    return j + lags.shape[0]


@njit(cache=True, nogil=True)
def _window_stats(x: np.ndarray, s: int, t: int, lut: np.ndarray,
                  w: int) -> tuple[float, float, float]:
    """Mean, population std and min of the non-NaN values at offsets ``0 .. w - 1``, two
    passes in float64; NaN for all three when there is none."""
    total = 0.0
    n = 0
    low = np.inf
    for off in range(w):
        v = value_at(x, s, column_of(t, off, lut))
        if not np.isnan(v):
            total += v
            n += 1
            low = min(low, v)
    if n == 0:
        return np.nan, np.nan, np.nan
    mean = total / n
    sq = 0.0
    for off in range(w):
        v = value_at(x, s, column_of(t, off, lut))
        if not np.isnan(v):
            sq += (v - mean) * (v - mean)
    return mean, np.sqrt(sq / n), low


@njit(cache=True, nogil=True)
def _rolling(x: np.ndarray, s: int, t: int, lut: np.ndarray, windows: np.ndarray,
             row: np.ndarray, j: int) -> int:
    for i in range(windows.shape[0]):
        mean, std, low = _window_stats(x, s, t, lut, windows[i])
        row[j] = mean
        row[j + 1] = std
        row[j + 2] = low
        j += 3
    return j


@njit(cache=True, nogil=True)
def _seasonal(x: np.ndarray, s: int, t: int, lut: np.ndarray, offsets: np.ndarray,
              row: np.ndarray, j: int) -> int:
    for i in range(offsets.shape[0]):
        row[j + i] = value_at(x, s, column_of(t, offsets[i], lut))
    return j + offsets.shape[0]


@njit(cache=True, nogil=True)
def _covariates(covars: np.ndarray, s: int, t: int, lut: np.ndarray, cov_var: np.ndarray,
                cov_lag: np.ndarray, row: np.ndarray, j: int) -> int:
    for i in range(cov_var.shape[0]):
        c = column_of(t, cov_lag[i] - 1, lut)
        if c < 0 or c >= covars.shape[2]:
            row[j + i] = np.nan
        else:
            row[j + i] = covars[cov_var[i], s, c]
    return j + cov_var.shape[0]


@njit(cache=True, nogil=True)
def _time(calendar: np.ndarray, t: int, opts: np.ndarray, row: np.ndarray, j: int) -> int:
    if opts[OPT_TIME] != 0:
        sec = np.float64(calendar[t, CAL_SECOND])
        angle = TWO_PI * sec / DAY_S
        row[j] = np.sin(angle)
        row[j + 1] = np.cos(angle)
        row[j + 2] = np.floor(sec / opts[OPT_BUCKET_S])
        row[j + 3] = calendar[t, CAL_DOW]
        row[j + 4] = calendar[t, CAL_DAYTYPE]
        j += 5
    if opts[OPT_HOLIDAY] != 0:
        row[j] = calendar[t, CAL_TO_HOLIDAY]
        row[j + 1] = calendar[t, CAL_FROM_HOLIDAY]
        j += 2
    return j


@njit(cache=True, nogil=True)
def _static(static: np.ndarray, s: int, row: np.ndarray, j: int) -> int:
    for k in range(static.shape[1]):
        row[j + k] = static[s, k]
    return j + static.shape[1]


@njit(cache=True, nogil=True)
def neighbour_mean(x: np.ndarray, s: int, c: int, indptr: np.ndarray,
                   indices: np.ndarray) -> float:
    """Mean of the non-NaN values of ``s``'s neighbours in column ``c`` (NaN if none)."""
    if c < 0 or c >= x.shape[1]:
        return np.nan
    total = 0.0
    n = 0
    for e in range(indptr[s], indptr[s + 1]):
        v = x[indices[e], c]
        if not np.isnan(v):
            total += v
            n += 1
    return total / n if n > 0 else np.nan


@njit(cache=True, nogil=True)
def _neighbours(x: np.ndarray, s: int, t: int, lut: np.ndarray, indptr: np.ndarray,
                indices: np.ndarray, nb_lags: np.ndarray, diff: bool, row: np.ndarray,
                j: int) -> int:
    n = nb_lags.shape[0]
    for i in range(n):
        c = column_of(t, nb_lags[i] - 1, lut)
        mean = neighbour_mean(x, s, c, indptr, indices)
        row[j + i] = mean
        if diff:
            row[j + n + i] = mean - value_at(x, s, c)
    return j + (2 * n if diff else n)


@njit(cache=True, nogil=True)
def _quality(x: np.ndarray, flags: np.ndarray, imputed: np.ndarray, s: int, t: int,
             lut: np.ndarray, flag_masks: np.ndarray, opts: np.ndarray, row: np.ndarray,
             j: int) -> int:
    f = flags[s, t]
    for i in range(flag_masks.shape[0]):
        row[j + i] = 1.0 if (f & flag_masks[i]) != 0 else 0.0
    j += flag_masks.shape[0]
    w = opts[OPT_IMP_WINDOW]
    if w > 0:
        shift = opts[OPT_IMP_SHIFT]
        bad = 0
        for off in range(w):
            c = column_of(t, off, lut)
            if c < 0 or c >= x.shape[1] or np.isnan(x[s, c]) or ((imputed[s, c] >> shift) & 3):
                bad += 1
        row[j] = bad / w
        j += 1
    return j


@njit(cache=True, nogil=True)
def build_features(
    target: np.ndarray,
    covars: np.ndarray,
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

    History: ``target`` ``(N, T)`` float32 (NaN = missing), ``covars`` ``(V, N, T)`` float32
    (other variables, may be ``V = 0``), ``flags`` ``(N, T)`` uint8 quality bits, ``imputed``
    ``(N, T)`` uint8 packed imputation codes, ``calendar`` ``(T, N_CAL)`` float32 (``CAL_*``
    columns; only anchor columns are read), ``static`` ``(N, S)`` float32, the sensor graph as
    CSR ``indptr`` int64 ``(N + 1,)`` / ``indices`` int32. Anchors: ``anchor_sensor``,
    ``anchor_col`` int32 ``(R,)``; ``lut`` int32 offset -> column table (empty: contiguous).
    Plan, int64: ``lags`` (>= 1; lag k = offset k - 1), rolling ``windows`` (buckets),
    ``seasonal`` offsets, covariates ``cov_var`` (index into ``covars``) / ``cov_lag``,
    neighbour ``nb_lags``, ``flag_masks`` (one 0/1 column each), ``opts`` ``(N_OPT,)``.
    """
    diff = opts[OPT_NB_DIFF] != 0
    for r in range(anchor_sensor.shape[0]):
        s = anchor_sensor[r]
        t = anchor_col[r]
        row = out[r]
        j = _lags(target, s, t, lut, lags, row, 0)
        j = _rolling(target, s, t, lut, windows, row, j)
        j = _seasonal(target, s, t, lut, seasonal, row, j)
        j = _covariates(covars, s, t, lut, cov_var, cov_lag, row, j)
        j = _time(calendar, t, opts, row, j)
        j = _static(static, s, row, j)
        j = _neighbours(target, s, t, lut, indptr, indices, nb_lags, diff, row, j)
        _quality(target, flags, imputed, s, t, lut, flag_masks, opts, row, j)
