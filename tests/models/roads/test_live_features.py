"""Live feature rows: sparse reads of the ring equal the full window, and the parity of live
rows (from a real RoadState) with offline rows built from the same history."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from road_features_harness import B0, BUCKET_S, TZ, ring_graph

from flowcast import daytypes
from flowcast.city import Csr
from flowcast.engine.road_state import RoadState
from flowcast.ingest.simulator import Simulator, generate_city
from flowcast.kernels import features as kf
from flowcast.kernels.windows import Window
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.live_features import live_history, live_matrix, live_spans
from flowcast.models.roads.matrices import training_matrix
from flowcast.models.roads.static_attributes import static_table


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
    graph = ring_graph(n)
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
