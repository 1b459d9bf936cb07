"""Road demand: commuters on workdays, leisure and tourists toward the spots on holidays."""

from __future__ import annotations

import datetime as dt

import numpy as np

from flowcast.city import City
from flowcast.ingest.simulator import generate_city
from flowcast.ingest.simulator.demand import day_context
from flowcast.ingest.simulator.network import M_PER_DEG_LAT, M_PER_DEG_LON
from flowcast.ingest.simulator.roaddemand import MAX_TOURIST_SHARE, RoadDemand
from flowcast.ingest.simulator.spots import SpotModel

from .conftest import GOLDEN, WORKDAY, local


def _demand(city: City) -> RoadDemand:
    return RoadDemand(city, SpotModel(city, 300, 0, 1.0), seed=0, demand_scale=1.0)


def _at(demand: RoadDemand, day: dt.date, hour: int, minute: int = 0) -> np.ndarray:
    return demand.at(day_context(day), hour * 60 + minute,
                     int(local(day, hour, minute).timestamp() * 1000))


def _near_spots(city: City, km: float) -> np.ndarray:
    mid = np.array([np.mean(line, axis=0) for line in city.segment_geometry])
    d = np.hypot((mid[:, None, 0] - city.spot_lonlat[None, :, 0]) * M_PER_DEG_LON,
                 (mid[:, None, 1] - city.spot_lonlat[None, :, 1]) * M_PER_DEG_LAT) / 1000
    return d.min(axis=1) < km


def test_holiday_traffic_heads_for_the_spots() -> None:
    city = generate_city(1500, 2, seed=1)  # big enough to have roads far from any spot
    demand = _demand(city)
    near, far = _near_spots(city, 1.0), ~_near_spots(city, 4.0)
    assert near.any() and far.any()
    holiday, work = _at(demand, GOLDEN, 11), _at(demand, WORKDAY, 11)
    assert (holiday[near] / work[near]).mean() > 1.3 * (holiday[far] / work[far]).mean()
    tourists = demand.tourists(GOLDEN, 11 * 60)
    assert tourists[near].sum() > 0 and tourists[far].sum() == 0
    assert tourists.sum() > demand.tourists(WORKDAY, 11 * 60).sum() * 2


def test_tourist_weights_are_bounded(city: City) -> None:
    demand = _demand(city)
    assert demand.t_weight.max() <= MAX_TOURIST_SHARE
    per_spot = np.bincount(demand.t_spot, weights=demand.t_weight, minlength=city.n_spots)
    assert np.all(per_spot <= 3.0 + 1e-9)


def test_expressways_surge_on_the_first_holiday_morning(city: City) -> None:
    demand = _demand(city)
    express = city.segment_class == 0
    first = _at(demand, dt.date(2026, 10, 1), 10)
    third = _at(demand, GOLDEN, 10)
    assert first[express].sum() > 1.25 * third[express].sum()


def test_demand_scale_multiplies_commuter_demand(city: City) -> None:
    base = RoadDemand(city, SpotModel(city, 300, 0, 0.0), seed=0, demand_scale=1.0)
    double = RoadDemand(city, SpotModel(city, 300, 0, 0.0), seed=0, demand_scale=2.0)
    assert np.allclose(_at(double, WORKDAY, 8), 2 * _at(base, WORKDAY, 8))
