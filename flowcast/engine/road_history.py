"""The per-sensor history ring of closed road buckets, as the engine holds it (the layout and
the quantization are :mod:`flowcast.kernels.history`'s)."""

from __future__ import annotations

import numpy as np

from flowcast.engine.bucket_state import kernel_column
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq
from flowcast.kernels.windows import Window

_VARS = (("flow", kh.FLOW, kh.FLOW_SCALE), ("occupancy", kh.OCC, kh.OCC_SCALE),
         ("speed", kh.SPEED, kh.SPEED_SCALE))


class History:
    """Per-sensor history ring of closed road buckets (12 bytes per sensor-bucket)."""

    def __init__(self, n_sensors: int, n_buckets: int = 2304) -> None:
        self.arrays: tuple[np.ndarray, ...] = kh.new_history(n_sensors, n_buckets)
        self.n_sensors = n_sensors
        self.n_buckets = n_buckets

    @property
    def nbytes(self) -> int:
        """Bytes held by the ring's arrays."""
        return sum(a.nbytes for a in self.arrays)

    @property
    def bytes_per_sensor(self) -> float:
        """Bytes of history per sensor over the whole span."""
        return self.nbytes / max(self.n_sensors, 1)

    @property
    def col_bucket(self) -> np.ndarray:
        """The bucket id each column holds (int64, ``NO_BUCKET`` when none)."""
        return self.arrays[6]

    def window(self, end_bucket: int, length: int, sensors: np.ndarray | None = None) -> Window:
        """Buckets ``end_bucket - length .. end_bucket - 1`` (end exclusive) of ``sensors``
        (int32 indices, default all) as a :class:`Window` of ``(n, length)`` arrays."""
        idx = (np.arange(self.n_sensors, dtype=np.int32) if sensors is None
               else sensors)
        idx = kernel_column(idx, np.int32)
        vals = np.empty((kh.N_VARS, len(idx), length), np.float32)
        flags = np.empty((len(idx), length), np.uint8)
        imp = np.empty_like(flags)
        count = np.empty_like(flags)
        kh.read_window(self.arrays, end_bucket, idx, vals, flags, imp, count, kq.NO_DATA)
        return Window(end_bucket - length, vals[kh.FLOW], vals[kh.OCC], vals[kh.SPEED],
                      flags, imp, count)

    def export(self) -> dict[str, np.ndarray]:
        """The ring as plain arrays, ``(H, N)`` each: ``flow``, ``occupancy``, ``speed``
        (float32, NaN = no value), ``speed_weight_code`` (uint16), ``count``,
        ``occupancy_count``, ``flags``, ``imputed`` (uint8), and ``col_bucket`` (H,)."""
        vals, sw, count, occ_n, flags, imp, col_bucket = self.arrays
        out: dict[str, np.ndarray] = {}
        for name, v, scale in _VARS:
            x = vals[v].astype(np.float32) / np.float32(scale)
            x[vals[v] == kh.Q_MISSING] = np.nan
            out[name] = x
        out.update(speed_weight_code=sw.copy(), count=count.copy(), occupancy_count=occ_n.copy(),
                   flags=flags.copy(), imputed=imp.copy(), col_bucket=col_bucket.copy())
        return out

    @classmethod
    def from_export(cls, data: dict[str, np.ndarray]) -> History:
        """A history rebuilt from :meth:`export`'s arrays (values are re-quantized)."""
        n_buckets, n_sensors = data["flow"].shape
        hist = cls(n_sensors, n_buckets)
        vals, sw, count, occ_n, flags, imp, col_bucket = hist.arrays
        for name, v, scale in _VARS:
            x = np.asarray(data[name], np.float64)
            q = np.clip(np.floor(x * scale + 0.5), 0, kh.Q_MAX)
            vals[v] = np.where(np.isnan(x), kh.Q_MISSING, np.nan_to_num(q)).astype(np.uint16)
        sw[:] = data["speed_weight_code"]
        count[:] = data["count"]
        occ_n[:] = data["occupancy_count"]
        flags[:] = data["flags"]
        imp[:] = data["imputed"]
        col_bucket[:] = data["col_bucket"]
        return hist
