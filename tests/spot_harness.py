"""Helpers shared by the spot-model tests: a simulated six-week spot history around National
Day's Golden Week, a spot model trained on its first five weeks (built once per test process),
and a :class:`SpotState` whose history ring holds the dataset's buckets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import lightgbm as lgb
import numpy as np
import xarray as xr

from flowcast.city import City
from flowcast.engine.spot_state import SpotState
from flowcast.ingest.simulator import FaultConfig, SimulatorConfig, generate_city
from flowcast.ingest.simulator.history import simulate_history
from flowcast.models.roads.training import TrainConfig
from flowcast.models.spots.features import SpotFeatureSpec, SpotSeries
from flowcast.models.spots.forecaster import SpotForecaster
from flowcast.models.spots.training import SpotTrainResult, train_spot_model

START = dt.datetime(2026, 9, 1)  # local midnight; the data runs to 12 October
DAYS = 42
HELD_OUT_DAYS = 7  # 6..12 October: the end of Golden Week, a make-up workday, ordinary days
BUCKET_S = 900
HORIZONS = (4, 8, 12, 16, 24, 32)  # the engine's default 60..480 min


@dataclass(frozen=True)
class SpotData:
    """The simulated city, its ``spots.nc`` series and the series as the model reads it."""

    city: City
    spots: xr.Dataset
    series: SpotSeries


@lru_cache(maxsize=1)
def spot_data() -> SpotData:
    """Six weeks of six spots (no detector faults; gates every 15 min to keep it quick)."""
    city = generate_city(4, 6, seed=3)
    config = SimulatorConfig(report_interval_s=300, spot_interval_s=900, headcount_interval_s=0,
                             faults=FaultConfig.none())
    data = simulate_history(city, START, DAYS, seed=3, config=config, progress=False)
    assert data.spots is not None
    series = SpotSeries.from_dataset(data.spots, opens_min=city.spot_opens_min,
                                     closes_min=city.spot_closes_min)
    return SpotData(city, data.spots, series)


def train_end() -> int:
    """First held-out bucket column."""
    return spot_data().series.n_buckets - HELD_OUT_DAYS * 96


@lru_cache(maxsize=1)
def trained() -> SpotTrainResult:
    """The spot model (with P10/P90) trained on every other bucket before the held-out week
    (fast settings: a test needs seconds, not the best model)."""
    config = TrainConfig(horizons=HORIZONS, quantiles=True, max_rounds=150, threads=1,
                         stride=2, refit=False, early_stopping=20,
                         params={"learning_rate": 0.15, "min_data_in_leaf": 50})
    return train_spot_model(spot_data().series, SpotFeatureSpec(BUCKET_S, HORIZONS), config,
                            end=train_end(), progress=False)


def filled_state(data: SpotData) -> SpotState:
    """A :class:`SpotState` of every spot whose history ring holds every bucket of the data
    (bucket ``b`` in ring column ``b % T``, as the engine keeps it)."""
    series = data.series
    t = series.n_buckets
    state = SpotState.for_city(data.city, bucket_s=BUCKET_S, history_buckets=t)
    arrivals, exits, visitors, peak, count, flags, col_bucket = state.history
    buckets = series.first_bucket + np.arange(t)
    cols = buckets % t
    arrivals[cols] = series.arrivals.T
    exits[cols] = np.asarray(data.spots["exits"].values, np.float32).T
    visitors[cols] = series.visitors.T
    peak[cols] = series.visitors.T
    count[cols] = 1
    flags[cols] = 0
    col_bucket[cols] = buckets
    state.closed_upto = int(buckets[-1]) + 1
    return state


def constant_model(saturation: float, horizons: tuple[int, ...] = HORIZONS) -> SpotForecaster:
    """A spot model that forecasts ``saturation`` at every horizon whatever it reads (LightGBM
    boosters fitted to a constant): a forecaster whose alerts are known in advance."""
    spec = SpotFeatureSpec(BUCKET_S, horizons)
    rng = np.random.default_rng(0)
    x = rng.random((64, spec.n_features))
    params = {"objective": "l2", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 1}
    boosters = {h: lgb.train(params, lgb.Dataset(x, np.full(64, saturation)),
                             num_boost_round=1) for h in horizons}
    return SpotForecaster(spec, boosters)
