"""Per-sensor history ring buffers of closed road buckets (numpy + numba only).

A history holds ``H`` buckets for ``N`` sensors. Column ``c = bucket_id mod H`` holds bucket
``col_bucket[c]``; a column whose id is not the bucket asked for is *stale* and reads as missing,
so data older than ``H`` buckets disappears by itself when the ring wraps.

The cells are compact (12 bytes per sensor-bucket) so that eight days of 5-minute buckets fit
the engine's memory budget: the three values are fixed-point ``uint16`` and the weights needed to
correct a closed bucket exactly when a late reading arrives are kept beside them.

Arrays, each ``(H, N)`` (time-major, so that closing writes one contiguous row) unless noted:

- ``vals`` ``(3, H, N)`` uint16: flow (1/8 vehicle), occupancy (1/50000), speed (1/100 km/h);
  ``Q_MISSING`` = no value. These are what features read: the raw value, or the imputed one
  where the variable is imputed (see ``imp``).
- ``sw`` uint16: the speed's weight. ``0`` no raw speed; ``SW_ARITH | n``: arithmetic mean of
  ``n`` speed readings (no usable flow); otherwise the flow weight (sum of flow over readings
  with speed and flow > 0) in 1/4 vehicle.
- ``count`` uint8: readings in the bucket (saturates at 255).
- ``occ_n`` uint8: readings with an occupancy (saturates at 255).
- ``flags`` uint8: data-quality bits (:mod:`flowcast.kernels.quality`).
- ``imp`` uint8: per variable 2 bits (variable ``v`` at bit ``2 v``): how its value was made,
  ``IMP_RAW`` / ``IMP_TEMPORAL`` / ``IMP_SPATIAL`` / ``IMP_FALLBACK``.
- ``col_bucket`` ``(H,)`` int64: the bucket id each column holds, ``NO_BUCKET`` when none.

Kernels take these seven arrays as one tuple, ``hist``, in that order. A late reading is folded
into a closed cell by :mod:`flowcast.kernels.late_readings`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FLOW, OCC, SPEED = 0, 1, 2
N_VARS = 3

FLOW_SCALE = 8.0
OCC_SCALE = 50000.0
SPEED_SCALE = 100.0
WEIGHT_SCALE = 4.0
Q_MISSING = 65535
Q_MAX = 65534
SW_ARITH = 0x8000
SW_MAX = 0x7FFF
COUNT_MAX = 255
NO_BUCKET = -(2**63)

IMP_RAW, IMP_TEMPORAL, IMP_SPATIAL, IMP_FALLBACK = 0, 1, 2, 3

BYTES_PER_CELL = 3 * 2 + 2 + 1 + 1 + 1 + 1


def new_history(n_sensors: int, n_buckets: int) -> tuple[np.ndarray, ...]:
    """Empty history arrays ``(vals, sw, count, occ_n, flags, imp, col_bucket)`` for
    ``n_sensors`` sensors and ``n_buckets`` columns; every column starts stale."""
    shape = (n_buckets, n_sensors)
    return (
        np.full((N_VARS, *shape), Q_MISSING, np.uint16),
        np.zeros(shape, np.uint16),
        np.zeros(shape, np.uint8),
        np.zeros(shape, np.uint8),
        np.zeros(shape, np.uint8),
        np.zeros(shape, np.uint8),
        np.full(n_buckets, NO_BUCKET, np.int64),
    )


@njit(cache=True)
def var_scale(v: int) -> float:
    """Fixed-point scale of variable ``v`` (units per stored step)."""
    if v == FLOW:
        return FLOW_SCALE
    if v == OCC:
        return OCC_SCALE
    return SPEED_SCALE


@njit(cache=True)
def quantize(x: float, scale: float) -> np.uint16:
    """``x`` in fixed point ``round(x * scale)``, clipped to ``0..Q_MAX``; NaN -> ``Q_MISSING``."""
    if np.isnan(x):
        return np.uint16(Q_MISSING)
    q = np.floor(x * scale + 0.5)
    if q < 0.0:
        q = 0.0
    elif q > Q_MAX:
        q = float(Q_MAX)
    return np.uint16(q)


@njit(cache=True)
def dequantize(q: np.uint16, scale: float) -> float:
    """The value of a stored fixed-point number; ``Q_MISSING`` -> NaN."""
    if q == Q_MISSING:
        return np.nan
    return q / scale


@njit(cache=True)
def encode_flow_weight(w: float) -> np.uint16:
    """Speed weight code for a flow weight ``w`` > 0 vehicles (at least one step)."""
    q = np.floor(w * WEIGHT_SCALE + 0.5)
    if q < 1.0:
        q = 1.0
    elif q > SW_MAX:
        q = float(SW_MAX)
    return np.uint16(q)


@njit(cache=True)
def encode_arith_count(n: float) -> np.uint16:
    """Speed weight code for an arithmetic mean over ``n`` >= 1 speed readings."""
    return np.uint16(SW_ARITH | int(min(n, SW_MAX)))


@njit(cache=True)
def imp_code(imp: np.uint8, v: int) -> int:
    """How variable ``v`` of a cell was made (``IMP_*``), from the cell's ``imp`` byte."""
    return (int(imp) >> (2 * v)) & 3


@njit(cache=True)
def with_imp_code(imp: int, v: int, code: int) -> int:
    """The ``imp`` byte with variable ``v``'s code replaced by ``code``."""
    return (imp & ~(3 << (2 * v))) | (code << (2 * v))


@njit(cache=True)
def column_of(hist: tuple, bucket: int) -> int:
    """The column holding ``bucket``, or -1 when the ring no longer (or never) held it."""
    col_bucket = hist[6]
    col = bucket % col_bucket.shape[0]
    if col_bucket[col] != bucket:
        return -1
    return col


@njit(cache=True)
def raw_good(hist: tuple, col: int, s: int, v: int) -> bool:
    """True when variable ``v`` of sensor ``s`` in column ``col`` is a raw (not imputed) value."""
    vals, imp = hist[0], hist[5]
    return imp_code(imp[col, s], v) == IMP_RAW and vals[v, col, s] != Q_MISSING


@njit(cache=True)
def cell_value(hist: tuple, col: int, s: int, v: int) -> float:
    """Variable ``v`` of sensor ``s`` in column ``col`` as a float (NaN when missing)."""
    return dequantize(hist[0][v, col, s], var_scale(v))


@njit(cache=True)
def set_cell_value(hist: tuple, col: int, s: int, v: int, x: float) -> None:
    """Store ``x`` as variable ``v`` of sensor ``s`` in column ``col``."""
    hist[0][v, col, s] = quantize(x, var_scale(v))


    # a speed without usable flow does not move a flow-weighted mean


@njit(cache=True, nogil=True)
def read_window(
    hist: tuple,
    end_bucket: int,
    sensors: np.ndarray,
    out_vals: np.ndarray,
    out_flags: np.ndarray,
    out_imp: np.ndarray,
    out_count: np.ndarray,
    stale_flags: int,
) -> None:
    """Read buckets ``end_bucket - L .. end_bucket - 1`` of ``sensors`` (int32, n) into
    ``out_vals`` (3, n, L) float32, ``out_flags`` / ``out_imp`` / ``out_count`` (n, L) uint8.
    Stale columns read as NaN values, zero count and ``stale_flags``."""
    vals, count, flags, imp, col_bucket = hist[0], hist[2], hist[4], hist[5], hist[6]
    n_cols = col_bucket.shape[0]
    length = out_flags.shape[1]
    for j in range(length):
        b = end_bucket - length + j
        col = b % n_cols
        fresh = col_bucket[col] == b
        for i in range(sensors.shape[0]):
            s = sensors[i]
            if fresh:
                for v in range(N_VARS):
                    out_vals[v, i, j] = dequantize(vals[v, col, s], var_scale(v))
                out_flags[i, j] = flags[col, s]
                out_imp[i, j] = imp[col, s]
                out_count[i, j] = count[col, s]
            else:
                for v in range(N_VARS):
                    out_vals[v, i, j] = np.nan
                out_flags[i, j] = stale_flags
                out_imp[i, j] = 0
                out_count[i, j] = 0
