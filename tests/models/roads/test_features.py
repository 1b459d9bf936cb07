"""Feature spec and builders: JSON round trip, names, the training and live matrices against a
plain numpy reference, calendar features around China's holidays, datasets, and the parity of
live rows (from a real RoadState) with offline rows built from the same history."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from flowcast import daytypes
from flowcast.city import Csr
from flowcast.engine.state import RoadState
from flowcast.kernels.windows import Window
from flowcast.formats.dataset import make_series_dataset
from flowcast.ingest.simulator import Simulator, generate_city
from flowcast.kernels import features as kf
from flowcast.kernels import quality as kq
from flowcast.models.roads.features import (
    CALENDAR_NAMES,
    FLAG_BITS,
    STATIC_NAMES,
    FeatureHistory,
    FeatureSpec,
    build_rows,
    calendar_table,
    categorical_features,
    feature_names,
    live_history,
    live_matrix,
    live_spans,
    static_table,
    training_anchors,
    training_matrix,
)

TZ = "Asia/Shanghai"
CAL = {name: i for i, name in enumerate(CALENDAR_NAMES)}
BUCKET_S = 300
# 2025-09-29 00:00 in Shanghai (UTC+8): a Monday, two days before National Day (Oct 1-8);
# Sunday 2025-09-28 is a make-up workday.
START = pd.Timestamp("2025-09-28 00:00", tz=TZ)
B0 = int(START.timestamp()) // BUCKET_S


# ----- a plain reference ----------------------------------------------------------------------


def _ring_graph(n: int) -> Csr:
    src = np.repeat(np.arange(n), 2)
    dst = (src + np.tile([1, 3], n)) % n
    return Csr.from_edges(n, src, dst)


def _history(n: int = 6, t: int = 700, seed: int = 3, start_bucket: int = B0) -> FeatureHistory:
    rng = np.random.default_rng(seed)
    values = {
        "speed": rng.uniform(15, 90, (n, t)).astype(np.float32),
        "flow": rng.integers(0, 60, (n, t)).astype(np.float32),
        "occupancy": rng.uniform(0, 0.6, (n, t)).astype(np.float32),
    }
    for x in values.values():
        x[rng.random((n, t)) < 0.08] = np.nan
    static = rng.uniform(0, 4, (n, len(STATIC_NAMES))).astype(np.float32)
    static[1, 2] = np.nan
    return FeatureHistory(
        values, rng.integers(0, 256, (n, t)).astype(np.uint8),
        rng.integers(0, 64, (n, t)).astype(np.uint8),
        start_bucket + np.arange(t, dtype=np.int64), BUCKET_S, TZ, static, _ring_graph(n),
        upstream=_chain(n, -1), downstream=_chain(n, 1))


def _chain(n: int, step: int) -> Csr:
    """Sensor ``s`` linked to ``s + step`` and ``s + 2 * step`` (those inside ``0 .. n - 1``)."""
    src = np.repeat(np.arange(n), 2)
    dst = src + np.tile([step, 2 * step], n)
    keep = (dst >= 0) & (dst < n)
    return Csr.from_edges(n, src[keep], dst[keep])


def _at(x: np.ndarray, s: int, c: int) -> float:
    return float(x[s, c]) if 0 <= c < x.shape[1] else np.nan


def _stats(x: np.ndarray, s: int, t: int, w: int) -> list[float]:
    v = np.array([_at(x, s, c) for c in range(t - w + 1, t + 1)])
    v = v[~np.isnan(v)]
    return [v.mean(), v.std(), v.min()] if len(v) else [np.nan] * 3


def _holiday_days(date: dt.date, cap: int) -> tuple[float, float]:
    def hol(d: dt.date) -> bool:
        return daytypes.day_type(d) == daytypes.HOLIDAY

    to_h = next((k for k in range(cap + 1) if hol(date + dt.timedelta(days=k))), cap)
    from_h = next((k for k in range(cap + 1) if hol(date - dt.timedelta(days=k))), cap)
    return float(to_h), float(from_h)


def _time_ref(bucket: int, spec: FeatureSpec, tz: str) -> list[float]:
    local = dt.datetime.fromtimestamp(bucket * spec.bucket_s, ZoneInfo(tz))
    sec = local.hour * 3600 + local.minute * 60 + local.second
    out: list[float] = []
    if spec.time_features:
        out += [np.sin(2 * np.pi * sec / 86_400), np.cos(2 * np.pi * sec / 86_400),
                sec // spec.bucket_s, local.weekday(), daytypes.day_type(local.date())]
    if spec.holiday_distance:
        out += list(_holiday_days(local.date(), spec.holiday_cap_days))
    return out


def _reference_row(h: FeatureHistory, spec: FeatureSpec, s: int, t: int) -> list[float]:
    x = h.values[spec.target]
    row = [_at(x, s, t - k + 1) for k in spec.lags]
    row += [v for w in spec.windows for v in _stats(x, s, t, w)]
    row += [_at(x, s, t - p + a) for p in spec.seasonal for a in spec.seasonal_ahead]
    row += [_at(h.values[v], s, t - k + 1) for v, k in spec.covariates]
    row += _time_ref(int(h.buckets[t]), spec, h.timezone)
    row += [h.static[s, STATIC_NAMES.index(n)] for n in spec.static]
    for direction in spec.neighbour_directions:
        nbs = h.graph_for(direction).neighbours(s)
        means = []
        for k in spec.neighbour_lags:
            v = np.array([_at(x, j, t - k + 1) for j in nbs])
            v = v[~np.isnan(v)]
            means.append(v.mean() if len(v) else np.nan)
        row += means
        if spec.neighbour_diff:
            row += [m - _at(x, s, t - k + 1)
                    for m, k in zip(means, spec.neighbour_lags, strict=True)]
    row += [float(int(h.flags[s, t]) & FLAG_BITS[f] != 0) for f in spec.flags]
    if spec.imputed_window:
        shift = 2 * {"flow": 0, "occupancy": 1, "speed": 2}[spec.target]
        bad = [c < 0 or np.isnan(x[s, c]) or (int(h.imputed[s, c]) >> shift) & 3 != 0
               for c in range(t - spec.imputed_window + 1, t + 1)]
        row.append(sum(bad) / spec.imputed_window)
    return row


SPEC_SMALL = FeatureSpec(lags=(1, 2, 4), windows=(3, 7), seasonal=(288,),
                         seasonal_ahead=(0, 3), covariates=(("occupancy", 1), ("flow", 2)),
                         holiday_distance=True, holiday_cap_days=5, neighbour_lags=(1, 2),
                         flags=("no_data", "stuck", "imputed", "corrected"), imputed_window=6)
SPEC_DIRECTED = FeatureSpec(lags=(1, 2), windows=(3,), seasonal=(288,), neighbour_lags=(1, 3),
                            neighbour_directions=("down", "all", "up"), imputed_window=4)


# ----- spec ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [FeatureSpec(), SPEC_SMALL, SPEC_DIRECTED,
                                  FeatureSpec.for_bucket(900, "flow", horizons=(1, 2, 4)),
                                  FeatureSpec.for_bucket(300, horizons=(3,), directed=True)])
def test_spec_json_round_trip(spec: FeatureSpec) -> None:
    text = json.dumps(spec.to_dict())
    back = FeatureSpec.from_dict(json.loads(text))
    assert back == spec
    assert feature_names(back) == feature_names(spec)


def test_a_version_1_spec_still_builds_exactly_its_old_features() -> None:
    old = {"kind": "flowcast.features", "version": 1, "target": "speed", "bucket_s": 300,
           "lags": [1, 2, 3, 4, 5, 6], "windows": [3, 6, 12], "seasonal": [288, 2016],
           "seasonal_ahead": [0], "covariates": [["flow", 1]], "time_features": True,
           "holiday_distance": False, "holiday_cap_days": 30,
           "static": ["road_class", "lanes", "free_flow_kmh", "length_m"],
           "neighbour_lags": [1, 2], "neighbour_diff": True,
           "flags": ["no_data", "few_samples", "stuck", "high_occupancy", "imputed"],
           "imputed_window": 12}
    spec = FeatureSpec.from_dict(old)
    assert spec.neighbour_directions == ("all",) and not spec.directed
    nb = [n for n in spec.names if n.startswith("nb_")]
    assert nb == ["nb_speed_mean_lag_1", "nb_speed_mean_lag_2", "nb_speed_diff_lag_1",
                  "nb_speed_diff_lag_2"]
    assert spec.n_features == 37
    assert spec.to_dict()["version"] == 2
    h = _history(n=5, t=40)
    x, _, anchors = training_matrix(h, spec, [1])
    ref = np.array([_reference_row(h, spec, s, t)
                    for s, t in zip(anchors.sensor.tolist(), anchors.column.tolist(),
                                    strict=True)])
    np.testing.assert_allclose(x, ref, rtol=2e-6, atol=2e-6, equal_nan=True)


def test_directed_names_and_the_default_for_a_city() -> None:
    spec = FeatureSpec.for_bucket(300, horizons=(3, 6), directed=True)
    assert spec.neighbour_directions == ("up", "down") and spec.directed
    nb = [n for n in spec.names if n.startswith("nb_")]
    assert nb == ["nb_speed_up_mean_lag_1", "nb_speed_up_mean_lag_2",
                  "nb_speed_up_diff_lag_1", "nb_speed_up_diff_lag_2",
                  "nb_speed_down_mean_lag_1", "nb_speed_down_mean_lag_2",
                  "nb_speed_down_diff_lag_1", "nb_speed_down_diff_lag_2"]
    undirected = FeatureSpec.for_bucket(300, horizons=(3, 6))
    assert undirected.neighbour_directions == ("all",)
    assert spec.n_features == undirected.n_features + 4
    assert FeatureSpec(neighbour_lags=(), neighbour_directions=("up",)).directed is False
    with pytest.raises(ValueError, match="neighbour_directions"):
        FeatureSpec(neighbour_directions=("sideways",))
    with pytest.raises(ValueError, match="neighbour_directions"):
        FeatureSpec(neighbour_directions=("up", "up"))


def test_directed_features_need_the_directed_graphs() -> None:
    h = _history(n=4, t=30)
    bare = FeatureHistory(h.values, h.flags, h.imputed, h.buckets, BUCKET_S, TZ, h.static,
                          h.graph)
    assert h.directed and not bare.directed
    with pytest.raises(ValueError, match="downstream neighbours but the history has no directed"):
        training_matrix(bare, SPEC_DIRECTED, [1])
    with pytest.raises(ValueError, match="upstream graph has 3 rows for 4 sensors"):
        FeatureHistory(h.values, h.flags, h.imputed, h.buckets, BUCKET_S, TZ,
                       upstream=_chain(3, 1))


def test_spec_refuses_unknown_keys_versions_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown feature spec key 'lagz'"):
        FeatureSpec.from_dict({"lagz": [1]})
    with pytest.raises(ValueError, match="version"):
        FeatureSpec.from_dict({"kind": "flowcast.features", "version": 99})
    with pytest.raises(ValueError, match="target"):
        FeatureSpec(target="visitors")
    with pytest.raises(ValueError, match="future"):
        FeatureSpec(seasonal=(288,), seasonal_ahead=(288,))
    with pytest.raises(ValueError, match="covariate"):
        FeatureSpec(covariates=(("speed", 1),))
    with pytest.raises(ValueError, match="lags"):
        FeatureSpec(lags=(0, 1))


def test_names_order_lookback_and_categoricals() -> None:
    spec = FeatureSpec()
    names = feature_names(spec)
    assert len(names) == len(set(names)) == spec.n_features == 36
    assert names[:2] == ["speed_lag_1", "speed_lag_2"]
    assert names[-1] == "speed_imputed_share_12"
    assert spec.min_history == 12 and spec.lookback == 2017  # a week back, the anchor included
    assert categorical_features(spec) == ["dow", "daytype", "road_class"]
    assert FeatureSpec.for_bucket(300, horizons=(3, 12)).seasonal_ahead == (0, 3, 12)
    assert FeatureSpec.for_bucket(900).windows == (2, 4, 12)


# ----- training matrix against the reference -------------------------------------------------


@pytest.mark.parametrize("spec", [SPEC_SMALL, FeatureSpec(seasonal=(288, 600)), SPEC_DIRECTED])
def test_training_matrix_equals_the_numpy_reference(spec: FeatureSpec) -> None:
    h = _history()
    x, y, anchors = training_matrix(h, spec, [1, 3], stride=7)
    assert x.shape == (len(anchors), spec.n_features) and y.shape == (len(anchors), 2)
    ref = np.array([_reference_row(h, spec, s, t)
                    for s, t in zip(anchors.sensor.tolist(), anchors.column.tolist(),
                                    strict=True)])
    np.testing.assert_allclose(x, ref, rtol=2e-6, atol=2e-6, equal_nan=True)
    exact = [i for i, n in enumerate(spec.names) if "_std_" not in n and "_mean" not in n
             and "tod_" not in n and "_diff_" not in n]
    np.testing.assert_array_equal(x[:, exact], ref[:, exact].astype(np.float32))
    seasonal = spec.names.index("speed_seasonal_288_0")
    assert np.isnan(x[anchors.column < 288, seasonal]).all()  # absent before a day of history
    assert not np.isnan(x[anchors.column >= 288, seasonal]).all()


def test_anchors_targets_and_their_nan_rules() -> None:
    h = _history(n=3, t=60)
    spec = FeatureSpec(lags=(1, 2), windows=(4,), seasonal=(), neighbour_lags=(1,),
                       imputed_window=0, flags=())
    _, y, anchors = training_matrix(h, spec, [1, 5])
    assert anchors.column[0] == spec.min_history - 1 == 3  # the first column with full lookback
    assert np.all(np.diff(anchors.column) >= 0)  # time-major
    np.testing.assert_array_equal(anchors.sensor[:3], [0, 1, 2])
    np.testing.assert_array_equal(anchors.bucket, h.buckets[anchors.column])
    speed, code = h.values["speed"], (h.imputed >> 4) & 3
    for r in range(len(anchors)):
        s, t = int(anchors.sensor[r]), int(anchors.column[r])
        for j, hz in enumerate((1, 5)):
            c = t + hz
            truth = speed[s, c] if c < 60 and code[s, c] == 0 else np.nan
            np.testing.assert_array_equal(y[r, j], truth)
    assert np.isnan(y[anchors.column == 59]).all()  # the last column has no future
    first = training_anchors(h, spec, start=0, stop=10)
    assert first.column.min() == 3 and first.column.max() == 9
    sub = training_anchors(h, spec, sensors=np.array([2]), stride=10)
    assert set(sub.sensor.tolist()) == {2} and np.all(np.diff(sub.column) == 10)


def test_anchor_at_the_array_start_reads_missing_lookback() -> None:
    h = _history(n=4, t=30)
    row = build_rows(h, SPEC_SMALL, np.array([0], np.int32), np.array([0], np.int32))[0]
    names = SPEC_SMALL.names
    np.testing.assert_array_equal(row[names.index("speed_lag_1")], h.values["speed"][0, 0])
    np.testing.assert_allclose(row, _reference_row(h, SPEC_SMALL, 0, 0), rtol=2e-6,
                               equal_nan=True)
    assert np.isnan(row[names.index("speed_lag_2")])
    assert np.isnan(row[names.index("flow_lag_2")])
    assert row[names.index("speed_imputed_share_6")] >= 5 / 6


def test_missing_covariates_read_as_nan_and_mismatches_are_refused() -> None:
    h = _history(n=3, t=50)
    del h.values["flow"], h.values["occupancy"]  # a speed-only dataset, like SZ-taxi
    spec = FeatureSpec.for_bucket(BUCKET_S)
    x, _, _ = training_matrix(h, spec, [1])
    assert np.isnan(x[:, spec.names.index("flow_lag_1")]).all()
    assert np.isnan(x[:, spec.names.index("occupancy_lag_1")]).all()
    assert not np.isnan(x[:, spec.names.index("speed_lag_1")]).all()
    with pytest.raises(ValueError, match="no 'flow' series"):
        training_matrix(h, FeatureSpec(target="flow"), [1])
    with pytest.raises(ValueError, match="900 s"):
        training_matrix(h, FeatureSpec(bucket_s=900), [1])
    with pytest.raises(ValueError, match="horizons"):
        training_matrix(h, FeatureSpec(), [0, 1])


# ----- calendar --------------------------------------------------------------------------------


def test_calendar_around_national_day_and_a_makeup_workday() -> None:
    days = pd.date_range("2025-09-27", "2025-10-12", freq="D", tz=TZ)
    local_noon = days + pd.Timedelta(hours=12)
    buckets = local_noon.as_unit("s").asi8 // BUCKET_S
    cal = calendar_table(buckets, BUCKET_S, TZ, holiday_cap_days=9)
    types = cal[:, CAL["daytype"]].astype(int).tolist()
    assert types[:2] == [daytypes.WEEKEND, daytypes.MAKEUP_WORKDAY]  # Sat 27th, Sun 28th
    assert types[4:12] == [daytypes.HOLIDAY] * 8  # Oct 1-8
    assert types[14] == daytypes.MAKEUP_WORKDAY  # Sat Oct 11
    assert np.all(cal[:, CAL["tod_bucket"]] == 144)  # local noon in a zone without DST
    np.testing.assert_allclose(cal[:, CAL["tod_sin"]], 0.0, atol=1e-7)
    np.testing.assert_array_equal(cal[:, CAL["tod_cos"]], -1.0)
    np.testing.assert_array_equal(cal[:, CAL["dow"]], [d.weekday() for d in days])
    for i, d in enumerate(days):
        assert tuple(cal[i, 5:]) == _holiday_days(d.date(), 9)
    assert cal[0, CAL["days_to_holiday"]] == 4 and cal[-1, CAL["days_from_holiday"]] == 4


def test_time_of_day_is_local_and_runs_over_midnight() -> None:
    # 2025-10-08 23:55 local is a holiday; five minutes later a workday begins
    last = pd.Timestamp("2025-10-08 23:55", tz=TZ)
    b = int(last.timestamp()) // BUCKET_S
    cal = calendar_table(np.array([b, b + 1]), BUCKET_S, TZ)
    assert cal[0, CAL["tod_bucket"]] == 287 and cal[1, CAL["tod_bucket"]] == 0
    assert cal[0, CAL["daytype"]] == daytypes.HOLIDAY
    assert cal[1, CAL["daytype"]] == daytypes.WORKDAY
    spec = FeatureSpec(lags=(1,), windows=(), seasonal=(), neighbour_lags=(), flags=(),
                       imputed_window=0, static=())
    h = _history(n=2, t=3, start_bucket=b - 1)
    x, _, _ = training_matrix(h, spec, [1])
    np.testing.assert_array_equal(x[:, 3], [286, 286, 287, 287, 0, 0])  # tod_bucket
    np.testing.assert_allclose(x[4, 1:3], [0.0, 1.0], atol=1e-7)  # sin, cos at midnight
    np.testing.assert_array_equal(x[:, 5], [daytypes.HOLIDAY] * 4 + [daytypes.WORKDAY] * 2)


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Asia/Kolkata"])
def test_time_of_day_follows_daylight_saving_in_other_zones(zone: str) -> None:
    # a day either side of both 2025 transitions, every 15 minutes (I-94 is in Minnesota)
    spring = pd.date_range("2025-03-08", "2025-03-11", freq="15min", tz="UTC")
    autumn = pd.date_range("2025-10-25", "2025-11-03", freq="15min", tz="UTC")
    starts = np.concatenate([spring.as_unit("s").asi8, autumn.as_unit("s").asi8])
    cal = calendar_table(starts // 900, 900, zone)
    local = [dt.datetime.fromtimestamp(int(x), ZoneInfo(zone)) for x in starts]
    np.testing.assert_array_equal(cal[:, CAL["tod_bucket"]],
                                  [(t.hour * 3600 + t.minute * 60) // 900 for t in local])
    np.testing.assert_array_equal(cal[:, CAL["dow"]], [t.weekday() for t in local])


# ----- histories from a dataset, a ring export, windows ----------------------------------------


def test_from_dataset_fills_gaps_and_takes_static_and_graph() -> None:
    times = pd.date_range("2025-09-29 00:00", periods=6, freq="5min", tz=TZ).delete([2, 3])
    speed = np.array([[50, np.nan, 40, 41], [60, 61, 62, np.nan]], np.float32)
    flow = np.array([[5, np.nan, 4, 4], [6, 6, 6, 6]], np.float32)
    ds = make_series_dataset(
        "sensor", ["A", "B"], times, {"speed": speed, "flow": flow},
        {"speed": "km/h", "flow": "vehicles"}, interval_s=BUCKET_S, timezone=TZ,
        coords={"road_class": np.array(["arterial", "nonsense"]), "lanes": np.array([3, 2])},
        graph=(np.array([0, 1, 2]), np.array([1, 0])))
    h = FeatureHistory.from_dataset(ds)
    assert h.n_buckets == 6 and h.contiguous and h.timezone == TZ
    np.testing.assert_array_equal(h.values["speed"][0], [50, np.nan, np.nan, np.nan, 40, 41])
    np.testing.assert_array_equal(h.flags[0], [0, kq.NO_DATA, kq.NO_DATA, kq.NO_DATA, 0, 0])
    np.testing.assert_array_equal(h.flags[1], [0, 0, kq.NO_DATA, kq.NO_DATA, 0, 0])
    assert not h.imputed.any()
    np.testing.assert_array_equal(h.static[:, 0], [1, np.nan])  # arterial; unknown class
    np.testing.assert_array_equal(h.static[:, 1], [3, 2])
    assert np.isnan(h.static[:, 2:]).all()
    np.testing.assert_array_equal(h.graph.indices, [1, 0])
    x, _, _ = training_matrix(h, FeatureSpec(), [1])
    assert x.shape == (0, 36)  # min_history 12 > 6 buckets: no complete row
    short = FeatureSpec(lags=(1,), windows=(2,), neighbour_lags=(1,), imputed_window=2)
    x, _, anchors = training_matrix(h, short, [1])
    assert x.shape == (10, short.n_features) and anchors.column.min() == 1
    lag1 = short.names.index("speed_lag_1")
    np.testing.assert_array_equal(x[:, lag1], h.values["speed"][anchors.sensor, anchors.column])


def test_from_dataset_takes_static_from_the_city_when_the_dataset_lacks_it() -> None:
    city = generate_city(12, 0, seed=2)
    times = pd.date_range("2025-09-29", periods=4, freq="5min", tz=TZ)
    ids = city.sensor_ids[[3, 1]]
    ds = make_series_dataset("sensor", ids, times, {"speed": np.ones((2, 4), np.float32)},
                             {"speed": "km/h"}, interval_s=BUCKET_S, timezone=TZ)
    h = FeatureHistory.from_dataset(ds, city)
    np.testing.assert_array_equal(h.static, static_table(city, np.array([3, 1])))
    full = city.sensor_neighbours
    linked = 1 in full.neighbours(3)
    assert (h.graph.neighbours(0).tolist() == [1]) == linked
    assert h.directed
    assert (h.downstream.neighbours(0).tolist() == [1]) == (1 in city.sensor_downstream
                                                              .neighbours(3))
    assert (h.upstream.neighbours(1).tolist() == [0]) == (3 in city.sensor_upstream
                                                          .neighbours(1))
    assert not FeatureHistory.from_dataset(ds).directed


def _window(first: int, speed: np.ndarray) -> Window:
    n, length = speed.shape
    zeros = np.zeros((n, length), np.uint8)
    return Window(first, speed * 0.1, speed * 0.01, speed, zeros, zeros.copy(), zeros.copy())


def test_sparse_live_reads_equal_the_full_window() -> None:
    spec = FeatureSpec.for_bucket(BUCKET_S, horizons=(3, 6, 12))
    rng = np.random.default_rng(5)
    n, length = 5, spec.lookback + 40
    speed = rng.uniform(10, 80, (n, length)).astype(np.float32)
    speed[rng.random((n, length)) < 0.1] = np.nan
    full = _window(B0, speed)
    graph = _ring_graph(n)
    static = rng.uniform(0, 3, (n, 4)).astype(np.float32)
    anchor = B0 + length - 1

    def read(end: int, count: int) -> Window:
        lo = end - count - B0
        return _window(end - count, speed[:, lo : lo + count])

    spans = live_spans(spec)
    assert spans[-1] == (spec.min_history - 1, spec.min_history)
    assert sum(c for _, c in spans) < spec.lookback // 10
    sparse = live_history(read, anchor, spec, static=static, graph=graph)
    assert not sparse.contiguous and sparse.buckets[-1] == anchor
    dense = live_matrix(full, None, spec, static, graph)
    np.testing.assert_array_equal(live_matrix(sparse, None, spec), dense)
    week = spec.names.index("speed_seasonal_2016_12")
    np.testing.assert_array_equal(dense[:, week], speed[:, length - 1 - 2016 + 12])


# ----- parity: live ring buffers vs offline, same history ------------------------------------


def _run_state(hours: float) -> tuple[RoadState, object]:
    city = generate_city(60, 1, seed=1)
    state = RoadState.for_city(city)
    start = dt.datetime(2025, 9, 29, 22, 0, tzinfo=ZoneInfo(TZ))
    sim = Simulator(city, start, seed=1)
    lateness_ms = 60_000
    for k in range(1, int(hours * 12) + 1):
        batch, _ = sim.step_until(start + dt.timedelta(minutes=5 * k))
        if len(batch.sensor):
            state.close_until(int(batch.ts_ms.max()) - lateness_ms)
            state.add(state.localize(batch))
    state.close(state.closed_upto + 1)  # the last bucket with data, too
    return state, city


@pytest.fixture(scope="module")
def live_state() -> tuple[RoadState, object]:
    return _run_state(27.5)


@pytest.mark.parametrize("spec", [
    FeatureSpec(), FeatureSpec.for_bucket(300, horizons=(3, 12)),
    FeatureSpec.for_bucket(300, horizons=(3, 12), directed=True),
    FeatureSpec(neighbour_directions=("all", "up", "down"), neighbour_lags=(1, 2, 3))])
def test_parity_live_ring_rows_equal_offline_rows(live_state: tuple, spec: FeatureSpec) -> None:
    state, city = live_state
    anchor = state.closed_upto - 1
    static = static_table(city)
    graph = Csr(state.indptr, state.indices)
    _, upstream, downstream = city.sensor_graphs(state.sensors)
    directed = {"upstream": upstream, "downstream": downstream}
    window = state.window(anchor + 1, spec.lookback)
    live = live_matrix(window, window.first_bucket, spec, static, graph, timezone=city.timezone,
                       **directed)
    signatures = len(kf.build_features.signatures)

    # offline (a): the ring exported as plain arrays
    exported = FeatureHistory.from_export(state.history.export(), bucket_s=state.bucket_s,
                                          timezone=city.timezone, static=static, graph=graph,
                                          **directed)
    assert exported.buckets[-1] == anchor and exported.n_buckets > 288 + 12
    x, _, anchors = training_matrix(exported, spec, [1, 3])
    offline = x[anchors.column == exported.n_buckets - 1]
    np.testing.assert_array_equal(offline, live)

    # offline (b): one window over the whole span of the ring
    whole = FeatureHistory.from_window(state.window(anchor + 1, state.history.n_buckets),
                                       bucket_s=state.bucket_s, timezone=city.timezone,
                                       static=static, graph=graph, **directed)
    x, _, anchors = training_matrix(whole, spec, [1])
    np.testing.assert_array_equal(x[anchors.column == whole.n_buckets - 1], live)

    # the engine's sparse reads give the same rows again
    sparse = live_history(state.window, anchor, spec, timezone=city.timezone, static=static,
                          graph=graph, **directed)
    np.testing.assert_array_equal(live_matrix(sparse, None, spec), live)
    assert len(kf.build_features.signatures) == signatures  # one compilation for every path

    # the rows hold real values: a day back is covered, a week back is not
    names = spec.names
    assert not np.isnan(live[:, names.index("speed_seasonal_288_0")]).any()
    assert np.isnan(live[:, names.index("speed_seasonal_2016_0")]).all()
    assert not np.isnan(live[:, names.index("speed_lag_1")]).any()  # imputed, never NaN
    assert live[:, names.index("daytype")].tolist() == [daytypes.HOLIDAY] * 60  # Oct 1
    for direction in spec.neighbour_directions:  # each graph's block holds its own means
        nb = "nb_speed" if direction == "all" else f"nb_speed_{direction}"
        column = live[:, names.index(f"{nb}_mean_lag_1")]
        g = {"all": graph, "up": upstream, "down": downstream}[direction]
        speed = window.speed[:, -1].astype(np.float64)
        ref = [speed[g.neighbours(s)].mean() if len(g.neighbours(s)) else np.nan
               for s in range(60)]
        np.testing.assert_allclose(column, ref, rtol=1e-6, equal_nan=True)
        assert not np.isnan(column).all()
