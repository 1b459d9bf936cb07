"""The road forecaster at city scale: training time on a simulated 10k-sensor x 4-week city, and
one live forecast cycle for 10k sensors (sparse ring reads + feature rows + every horizon).

The city is ``simulate_history(generate_city(10_000, 1, seed=0), 2026-03-02, 28 days)``: 8064
five-minute buckets of flow, occupancy and speed per sensor (about 5 minutes to simulate on the
2-core development machine, so it is kept under ``$FLOWCAST_BENCH_CACHE``, default
``~/.cache/flowcast/bench``, and reused). Two model configurations, both on a sample (every
12th time = one anchor an hour, 1000 random sensors: 0.65 M rows x 51 features), speed at
15/30/45/60 min, no quantiles:

- ``default``: ``flowcast train``'s LightGBM settings (learning rate 0.05, early stopping);
- ``compact``: ``--learning-rate 0.2 --max-trees 150``: about a quarter of the trees, for a
  live cycle within budget (see ``docs/models.md`` for the accuracy it costs).

Run: ``.venv/bin/pytest benchmarks/test_road_model_bench.py --benchmark-only -s``. Figures are
printed and kept in ``extra_info``; nothing asserts a time.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from flowcast.city import Csr
from flowcast.engine.road_history import History
from flowcast.formats.dataset import load_dataset, save_dataset
from flowcast.ingest.simulator import generate_city, simulate_history
from flowcast.kernels import history as kh
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.forecaster import RoadForecaster, live_rows, predict_live
from flowcast.models.roads.training import TrainConfig, road_history, train_road_model

N_SENSORS = 10_000
DAYS = 28
BUCKET_S = 300
HORIZONS = (3, 6, 9, 12)
RING_BUCKETS = 8 * 288  # the engine's default 8-day ring
CONFIGS = {
    "default": TrainConfig(horizons=HORIZONS, quantiles=False, stride=12, max_sensors=1000),
    "compact": TrainConfig(horizons=HORIZONS, quantiles=False, stride=12, max_sensors=1000,
                           params={"learning_rate": 0.2}, max_rounds=150),
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def _cache() -> Path:
    root = Path(os.environ.get("FLOWCAST_BENCH_CACHE", Path.home() / ".cache/flowcast/bench"))
    return root / f"sim-{N_SENSORS}s-{DAYS}d-seed0"


@pytest.fixture(scope="module")
def roads() -> xr.Dataset:
    """The simulated city's road series (simulated once, then read from the cache)."""
    path = _cache()
    if not (path / "roads.nc").is_file():
        city = generate_city(N_SENSORS, 1, seed=0)
        start = dt.datetime(2026, 3, 2, tzinfo=city.zone)
        save_dataset(simulate_history(city, start, DAYS, seed=0), path)
    ds = load_dataset(path).roads
    assert ds is not None and ds.sizes["sensor"] == N_SENSORS
    return ds


@pytest.fixture(scope="module")
def history(roads: xr.Dataset) -> FeatureHistory:
    return road_history(roads)


@pytest.fixture(scope="module")
def models() -> dict[str, RoadForecaster]:
    """Models trained by the training benchmarks (or on demand by the live ones)."""
    return {}


def _model(name: str, history: FeatureHistory, models: dict[str, RoadForecaster]
           ) -> RoadForecaster:
    if name not in models:
        spec = FeatureSpec.for_bucket(BUCKET_S, horizons=HORIZONS)
        models[name] = train_road_model(history, spec, CONFIGS[name], progress=False).model
    return models[name]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_train_10k_sensors_4_weeks(benchmark: Any, history: FeatureHistory,
                                   models: dict[str, RoadForecaster], name: str) -> None:
    """Training matrix + 4 mean boosters (early stopping, refit) on the sampled city."""
    spec = FeatureSpec.for_bucket(BUCKET_S, horizons=HORIZONS)
    result = benchmark.pedantic(train_road_model, args=(history, spec, CONFIGS[name]),
                                kwargs={"progress": False}, rounds=1, iterations=1)
    models[name] = result.model
    trees = {h: b.num_trees() for h, b in result.model.boosters.items()}
    err = result.validation.y_pred - result.validation.y_true
    rmse = [round(float(v), 3) for v in np.sqrt(np.nanmean(err ** 2, axis=0))]
    mae = [round(float(v), 3) for v in np.nanmean(np.abs(err), axis=0)]
    benchmark.extra_info.update(rows=result.rows, trees=trees, val_rmse=rmse, val_mae=mae)
    print(f"\n{name}: rows {result.rows[HORIZONS[0]]} per horizon, trees {trees}, "
          f"validation RMSE {rmse} MAE {mae}")
    assert set(trees) == set(HORIZONS)


@pytest.fixture(scope="module")
def ring(roads: xr.Dataset) -> tuple[History, int, np.ndarray, Csr | None]:
    """A real 8-day history ring of 10k sensors filled with the city's last 8 days, the
    anchor bucket (the last), the static table and the sensor graph."""
    full = FeatureHistory.from_dataset(roads)
    t = full.n_buckets
    cols = np.arange(t - RING_BUCKETS, t)
    buckets = full.buckets[cols]
    order = np.argsort(buckets % RING_BUCKETS)
    cols, buckets = cols[order], buckets[order]
    data = {v: np.ascontiguousarray(full.values[v][:, cols].T) for v in ("flow", "occupancy",
                                                                          "speed")}
    shape = (RING_BUCKETS, full.n_sensors)
    data.update(speed_weight_code=np.ones(shape, np.uint16), count=np.ones(shape, np.uint8),
                occupancy_count=np.ones(shape, np.uint8),
                flags=np.ascontiguousarray(full.flags[:, cols].T),
                imputed=np.zeros(shape, np.uint8), col_bucket=buckets.copy())
    history = History.from_export(data)
    assert (history.col_bucket != kh.NO_BUCKET).all()
    assert full.static is not None
    return history, int(full.buckets[-1]), full.static, full.graph


@pytest.mark.parametrize("threads", [1, 0], ids=["1-thread", "all-cores"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_live_forecast_cycle_10k_sensors(benchmark: Any, history: FeatureHistory,
                                         models: dict[str, RoadForecaster], ring: tuple,
                                         name: str, threads: int) -> None:
    """What the engine runs per closed bucket: read the spec's ring columns, build 10k rows,
    predict 15/30/45/60 min, with one LightGBM thread (the engine's default,
    engine.model_threads) or all cores (0)."""
    model = _model(name, history, models)
    state, anchor, static, graph = ring
    kwargs = {"timezone": "Asia/Shanghai", "static": static, "graph": graph}
    predict_live(model, state.window, anchor, threads=threads, **kwargs)  # warm: compile
    began = time.perf_counter()
    x = live_rows(model, state.window, anchor, **kwargs)
    features_ms = (time.perf_counter() - began) * 1e3
    began = time.perf_counter()
    model.predict_rows(x, threads=threads)
    predict_ms = (time.perf_counter() - began) * 1e3
    out = benchmark(predict_live, model, state.window, anchor, threads=threads, **kwargs)
    assert out.y.shape == (N_SENSORS, len(HORIZONS)) and np.isfinite(out.y).all()
    trees = sum(b.num_trees() for b in model.boosters.values())
    benchmark.extra_info.update(trees=trees, features_ms=features_ms, predict_ms=predict_ms)
    print(f"\n{name}, threads={threads}: {trees} trees; one cycle: features "
          f"{features_ms:.1f} ms + predict {predict_ms:.1f} ms")
