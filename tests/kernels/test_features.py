"""The feature kernel, family by family, against plain numpy references on small random data."""

from __future__ import annotations

from typing import Any

import numpy as np

from flowcast.kernels import features as kf
from flowcast.kernels import quality as kq

N, T = 7, 40
RNG_SEED = 11


def _data(seed: int = RNG_SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.uniform(10, 90, (N, T)).astype(np.float32)
    target[rng.random((N, T)) < 0.15] = np.nan
    target[3, :] = np.nan  # a sensor that never reported
    covars = rng.uniform(0, 1, (2, N, T)).astype(np.float32)  # passed as cov0, cov1
    covars[rng.random((2, N, T)) < 0.1] = np.nan
    return {"target": target, "covars": covars,
            "flags": rng.integers(0, 256, (N, T)).astype(np.uint8),
            "imputed": rng.integers(0, 64, (N, T)).astype(np.uint8),
            "calendar": np.empty((T, 0), np.float32),
            "calendar7": rng.uniform(0, 100, (T, 7)).astype(np.float32),
            "static": rng.uniform(0, 5, (N, 3)).astype(np.float32)}


def _i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def _run(d: dict[str, np.ndarray], sensor: np.ndarray, col: np.ndarray, width: int, *,
         lut: np.ndarray | None = None, indptr: np.ndarray | None = None,
         indices: np.ndarray | None = None, opts: dict[int, int] | None = None,
         static: bool = False, covars: bool = False, **plan: np.ndarray) -> np.ndarray:
    """Call the kernel with only the families in ``plan`` (others empty)."""
    o = np.zeros(kf.N_OPT, np.int64)
    for k, v in (opts or {}).items():
        o[k] = v
    empty = np.empty(0, np.int64)
    args: dict[str, Any] = {k: plan.get(k, empty) for k in
                            ("lags", "windows", "seasonal", "cov_var", "cov_lag", "nb_lags",
                             "flag_masks")}
    out = np.full((len(sensor), width), -999.0, np.float32)
    kf.build_features(
        d["target"], *(d["covars"] if covars else [np.empty((N, 0), np.float32)] * 2), d["flags"],
        d["imputed"], d["calendar"], d["static"] if static else np.empty((N, 0), np.float32),
        np.zeros(N + 1, np.int64) if indptr is None else indptr,
        np.empty(0, np.int32) if indices is None else indices,
        sensor.astype(np.int32), col.astype(np.int32),
        np.empty(0, np.int32) if lut is None else lut.astype(np.int32),
        args["lags"], args["windows"], args["seasonal"], args["cov_var"], args["cov_lag"],
        args["nb_lags"], args["flag_masks"], o, out)
    assert not np.any(out == -999.0), "a column was left unwritten"
    return out


def _anchors() -> tuple[np.ndarray, np.ndarray]:
    sensor = np.repeat(np.arange(N), 5)
    col = np.tile(np.array([0, 1, 5, 20, T - 1]), N)  # the array start included
    return sensor, col


def _pairs(sensor: np.ndarray, col: np.ndarray) -> list[tuple[int, int]]:
    return list(zip(sensor.tolist(), col.tolist(), strict=True))


def _at(x: np.ndarray, s: int, c: int) -> float:
    return float(x[s, c]) if 0 <= c < x.shape[1] else np.nan


def test_lags_reach_back_and_are_nan_before_the_array() -> None:
    d = _data()
    sensor, col = _anchors()
    lags = (1, 2, 6)
    out = _run(d, sensor, col, 3, lags=_i64(*lags))
    ref = np.array([[_at(d["target"], s, t - k + 1) for k in lags] for s, t in _pairs(sensor, col)])
    np.testing.assert_array_equal(out, ref.astype(np.float32))
    assert np.isnan(out[col == 0][:, 1:]).all()  # lags 2 and 6 at the first column


def _window_ref(x: np.ndarray, s: int, t: int, w: int) -> list[float]:
    vals = x[s, max(0, t - w + 1) : t + 1].astype(np.float64)
    vals = vals[~np.isnan(vals)]
    if not len(vals):
        return [np.nan] * 3
    return [vals.mean(), vals.std(), vals.min()]


def test_rolling_mean_std_min_ignore_missing_values() -> None:
    d = _data()
    sensor, col = _anchors()
    windows = (3, 12, 6)  # any order
    out = _run(d, sensor, col, 9, windows=_i64(*windows))
    ref = np.array([[v for w in windows for v in _window_ref(d["target"], s, t, w)]
                    for s, t in _pairs(sensor, col)])
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-5, equal_nan=True)
    assert np.isnan(out[sensor == 3]).all()  # no value at all: NaN, not 0
    flat = _data()
    flat["target"][:] = 42.5
    assert np.all(_run(flat, sensor, col, 3, windows=_i64(12))[:, 1] == 0.0)  # exact zero std


def test_seasonal_lags_present_only_when_the_history_covers_them() -> None:
    d = _data()
    sensor, col = _anchors()
    offsets = (24, 20, 39)  # period 24 at ahead 0 and 4; an offset the last column just covers
    out = _run(d, sensor, col, 3, seasonal=_i64(*offsets))
    ref = np.array([[_at(d["target"], s, t - o) for o in offsets] for s, t in _pairs(sensor, col)])
    np.testing.assert_array_equal(out, ref.astype(np.float32))
    assert np.isnan(out[col < 20]).all()
    present = (col == T - 1) & (sensor != 3)
    assert not np.isnan(out[present, 2]).all()


def test_covariate_lags_read_their_own_variable() -> None:
    d = _data()
    sensor, col = _anchors()
    out = _run(d, sensor, col, 3, covars=True, cov_var=_i64(1, 0, 1), cov_lag=_i64(1, 1, 3))
    c = d["covars"]
    ref = np.array([[_at(c[1], s, t), _at(c[0], s, t), _at(c[1], s, t - 2)]
                    for s, t in _pairs(sensor, col)])
    np.testing.assert_array_equal(out, ref.astype(np.float32))


def test_calendar_columns_are_copied_from_the_anchor_column() -> None:
    d = _data()
    sensor, col = _anchors()
    d["calendar"] = d["calendar7"]
    out = _run(d, sensor, col, 7)
    np.testing.assert_array_equal(out, d["calendar"][col])


def test_static_attributes_are_copied_per_sensor() -> None:
    d = _data()
    sensor, col = _anchors()
    out = _run(d, sensor, col, 3, static=True)
    np.testing.assert_array_equal(out, d["static"][sensor])


def _tiny_csr() -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    adj = [[1, 2], [0], [0, 3], [], [3, 5, 6], [4], [3]]  # sensor 3 has no neighbours
    indptr = np.concatenate([[0], np.cumsum([len(a) for a in adj])]).astype(np.int64)
    indices = np.array([j for a in adj for j in a], np.int32)
    return indptr, indices, adj


def test_neighbour_means_and_differences_over_a_tiny_csr() -> None:
    d = _data()
    indptr, indices, adj = _tiny_csr()
    sensor, col = _anchors()
    out = _run(d, sensor, col, 4, indptr=indptr, indices=indices, nb_lags=_i64(1, 2),
               opts={kf.OPT_NB_DIFF: 1})
    x = d["target"]

    def mean(s: int, c: int) -> float:
        vals = np.array([_at(x, j, c) for j in adj[s]], np.float64)
        vals = vals[~np.isnan(vals)]
        return vals.mean() if len(vals) else np.nan

    ref = []
    for s, t in _pairs(sensor, col):
        m = [mean(s, t), mean(s, t - 1)]
        ref.append([*m, m[0] - _at(x, s, t), m[1] - _at(x, s, t - 1)])
    np.testing.assert_allclose(out, np.array(ref), rtol=1e-6, equal_nan=True)
    assert np.isnan(out[sensor == 3][:, :2]).all()  # no neighbours: NaN


def test_stacked_graphs_give_one_block_of_neighbour_columns_each() -> None:
    d = _data()
    first, _, adj_a = _tiny_csr()
    adj_b = [[6], [2, 3], [], [0, 1], [5], [], [4]]
    second = np.concatenate([[0], np.cumsum([len(a) for a in adj_b])]).astype(np.int64)
    indptr = np.concatenate([first, second[1:] + first[-1]])
    indices = np.array([j for a in adj_a + adj_b for j in a], np.int32)
    sensor, col = _anchors()
    out = _run(d, sensor, col, 8, indptr=indptr, indices=indices, nb_lags=_i64(1, 3),
               opts={kf.OPT_NB_DIFF: 1})
    x = d["target"]

    def mean(adj: list[list[int]], s: int, c: int) -> float:
        vals = np.array([_at(x, j, c) for j in adj[s]], np.float64)
        vals = vals[~np.isnan(vals)]
        return vals.mean() if len(vals) else np.nan

    ref = []
    for s, t in _pairs(sensor, col):
        row = []
        for adj in (adj_a, adj_b):
            m = [mean(adj, s, t), mean(adj, s, t - 2)]
            row += [*m, m[0] - _at(x, s, t), m[1] - _at(x, s, t - 2)]
        ref.append(row)
    np.testing.assert_allclose(out, np.array(ref), rtol=1e-6, equal_nan=True)
    assert np.isnan(out[sensor == 2][:, 4:]).all()  # no neighbour in the second graph


def test_no_graph_means_no_neighbour_columns() -> None:
    d = _data()
    sensor, col = _anchors()
    out = _run(d, sensor, col, 1, indptr=np.zeros(1, np.int64), nb_lags=_i64(1, 2),
               lags=_i64(1), opts={kf.OPT_NB_DIFF: 1})
    np.testing.assert_array_equal(out[:, 0], d["target"][sensor, col])


def test_flag_bits_of_the_anchor_bucket() -> None:
    d = _data()
    sensor, col = _anchors()
    masks = (kq.NO_DATA, kq.STUCK, kq.IMPUTED)
    out = _run(d, sensor, col, 3, flag_masks=_i64(*masks))
    f = d["flags"][sensor, col]
    ref = np.column_stack([(f & m) != 0 for m in masks]).astype(np.float32)
    np.testing.assert_array_equal(out, ref)


def test_imputed_share_counts_missing_imputed_and_unheld_buckets() -> None:
    d = _data()
    sensor, col = _anchors()
    shift, w = 4, 6  # speed's code in the packed byte
    out = _run(d, sensor, col, 1, opts={kf.OPT_IMP_WINDOW: w, kf.OPT_IMP_SHIFT: shift})
    ref = []
    for s, t in _pairs(sensor, col):
        bad = 0
        for c in range(t - w + 1, t + 1):
            code = (int(d["imputed"][s, c]) >> shift) & 3 if c >= 0 else 0
            bad += c < 0 or np.isnan(d["target"][s, c]) or code != 0
        ref.append(bad / w)
    np.testing.assert_allclose(out[:, 0], ref, rtol=1e-7)
    assert np.all(out[col == 0, 0] >= (w - 1) / w)  # five of six buckets lie before the array


def test_sparse_columns_through_a_lut_equal_the_dense_arrays() -> None:
    d = _data()
    keep = np.array([5, 6, 20, 21, *range(28, T)])  # sparse reads
    anchor = T - 1
    lut = np.full(30, -1, np.int32)
    for pos, c in enumerate(keep):
        if anchor - c < len(lut):
            lut[anchor - c] = pos
    sparse = {k: v[..., keep] for k, v in d.items() if k in ("target", "covars", "flags",
                                                             "imputed")}
    sparse["static"] = d["static"]
    d["calendar"] = d["calendar7"]
    sparse["calendar"] = d["calendar"][keep]
    sensor = np.arange(N)
    plan = {"lags": _i64(1, 3), "windows": _i64(3, 8), "seasonal": _i64(18, 19, 33),
            "nb_lags": _i64(1, 2), "flag_masks": _i64(kq.NO_DATA, kq.IMPUTED),
            "cov_var": _i64(0), "cov_lag": _i64(2)}
    indptr, indices, _ = _tiny_csr()
    opts = {kf.OPT_NB_DIFF: 1, kf.OPT_IMP_WINDOW: 12, kf.OPT_IMP_SHIFT: 4}
    width = 2 + 6 + 3 + 1 + 7 + 4 + 2 + 1
    dense = _run(d, sensor, np.full(N, anchor), width, indptr=indptr, indices=indices,
                 opts=opts, covars=True, **plan)
    lutted = _run(sparse, sensor, np.full(N, len(keep) - 1), width, lut=lut, indptr=indptr,
                  indices=indices, opts=opts, covars=True, **plan)
    # offset 33 (column 6) is beyond the lut: NaN in the sparse run, a value in the dense one
    np.testing.assert_array_equal(lutted[:, 10], np.nan)
    lutted[:, 10] = dense[:, 10]
    np.testing.assert_array_equal(lutted, dense)
