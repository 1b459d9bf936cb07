"""Shared helpers of the road bucket kernel tests: random readings, a pandas reference, runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowcast.kernels import bucket_close as kc
from flowcast.kernels import buckets as kb
from flowcast.kernels import history as kh
from flowcast.kernels import quality as kq

BUCKET_MS = 300_000
T0 = 1_764_000_000_000  # a multiple of the bucket: bucket ids start at T0 // BUCKET_MS
B0 = T0 // BUCKET_MS
N_SENSORS = 7


def _readings(rng: np.random.Generator, n: int, n_buckets: int, nan_share: float = 0.2
              ) -> dict[str, np.ndarray]:
    """Random road readings over ``n_buckets`` buckets from T0: integer flows (vehicle counts,
    some zero), NaNs in every field, a few speed-only rows."""
    flow = rng.integers(0, 12, n).astype(np.float32)
    occ = rng.uniform(0.02, 0.4, n).astype(np.float32)
    speed = rng.uniform(15, 90, n).astype(np.float32)
    for x in (flow, occ, speed):
        x[rng.random(n) < nan_share] = np.nan
    return {
        "sensor": rng.integers(0, N_SENSORS, n).astype(np.int32),
        "ts_ms": (T0 + rng.integers(0, n_buckets * BUCKET_MS, n)).astype(np.int64),
        "flow": flow, "occupancy": occ, "speed": speed,
    }


def reference(r: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per (sensor, bucket): count, flow sum (NaN without flows), occupancy mean and speed
    (flow-weighted over readings with speed and flow > 0, else the mean of the speeds)."""
    df = pd.DataFrame({"s": r["sensor"], "b": r["ts_ms"] // BUCKET_MS,
                       "f": r["flow"].astype(np.float64), "o": r["occupancy"].astype(np.float64),
                       "v": r["speed"].astype(np.float64)})
    usable = df.v.notna() & (df.f > 0)
    df["fw"] = np.where(usable, df.v * df.f, 0.0)
    df["w"] = np.where(usable, df.f, 0.0)
    g = df.groupby(["s", "b"])
    out = pd.DataFrame({"count": g.size(), "flow": g.f.sum(min_count=1), "occ": g.o.mean(),
                        "fw": g.fw.sum(), "w": g.w.sum(), "vmean": g.v.mean(),
                        "occ_n": g.o.count(), "spd_n": g.v.count(), "vsum": g.v.sum()})
    out["speed"] = np.where(out.w > 0, out.fw / out.w.where(out.w > 0, 1.0), out.vmean)
    return out


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only view: the array type RoadState hands the kernels (one compile)."""
    v = a.view()
    v.flags.writeable = False
    return v


def _run(r: dict[str, np.ndarray], closed_upto: int, acc: np.ndarray, slots: np.ndarray
         ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    status = np.empty(len(r["sensor"]), np.int8)
    counts = kb.accumulate(_ro(r["sensor"]), _ro(r["ts_ms"]), _ro(r["flow"]),
                           _ro(r["occupancy"]), _ro(r["speed"]), BUCKET_MS, closed_upto, acc,
                           slots, status)
    return status, counts


def _quality() -> np.ndarray:
    from flowcast.kernels.quality_params import QualityParams

    return QualityParams().to_array(BUCKET_MS // 1000)


def _statics(n: int = N_SENSORS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # the random buckets hold ~100 readings: a huge capacity keeps them clear of the
    # inconsistency check, so that this file tests aggregation, not quality
    sp = np.empty((kq.N_SP, n), np.float32)
    sp[kq.SP_EXPECTED] = 10
    sp[kq.SP_LANES] = 2
    sp[kq.SP_CAPACITY] = 1e6
    sp[kq.SP_FREE_FLOW] = 60
    return sp, np.zeros(n + 1, np.int64), np.empty(0, np.int32)


def _qstate(n: int = N_SENSORS) -> tuple[np.ndarray, ...]:
    return (np.full((n, 3), np.nan, np.float32), np.zeros(n, np.int32),
            np.full((n, 3), np.nan, np.float32), np.zeros(n, np.float32))


def _close(acc: np.ndarray, slots: np.ndarray, closed: int, up_to: int, hist: tuple,
           qstate: tuple | None = None) -> np.ndarray:
    sp, indptr, indices = _statics(acc.shape[1])
    n = up_to - closed
    ids, nd, ni = (np.empty(n, np.int64) for _ in range(3))
    k = kc.close_buckets(acc, slots, closed, up_to, hist, sp, indptr, indices, _quality(),
                         qstate or _qstate(acc.shape[1]), ids, nd, ni)
    return ids[:k]


def _assert_history_matches(hist: tuple, ref: pd.DataFrame) -> None:
    """Every raw value in the reference is in the history, to the fixed-point step."""
    vals, imp = hist[0], hist[5]
    n_cols = hist[6].shape[0]
    tolerance = {kh.FLOW: 0.5 / kh.FLOW_SCALE, kh.OCC: 1e-4, kh.SPEED: 0.02}
    for (s, b), row in ref.iterrows():
        col = b % n_cols
        assert hist[6][col] == b
        assert hist[2][col, s] == min(row["count"], 255)
        for v, name in ((kh.FLOW, "flow"), (kh.OCC, "occ"), (kh.SPEED, "speed")):
            code = (int(imp[col, s]) >> (2 * v)) & 3
            if np.isnan(row[name]):
                assert code != kh.IMP_RAW, (s, b, name)
            else:
                assert code == kh.IMP_RAW, (s, b, name)
                got = vals[v, col, s] / kh.var_scale(v)
                assert abs(got - row[name]) <= tolerance[v], (s, b, name, got, row[name])
