"""The Simulator: deterministic batches, commuter peaks, day types, congestion, incidents."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowcast.city import City
from flowcast.errors import FlowcastUserError
from flowcast.formats.dataset import FlowDataset
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.simulator import Simulator, SimulatorConfig
from flowcast.ingest.simulator.demand import day_context
from flowcast.ingest.simulator.roaddemand import RoadDemand
from flowcast.ingest.simulator.spots import SpotModel

from .conftest import MAKEUP, SHANGHAI, WEEKEND, WORKDAY, local

QUIET = SimulatorConfig(incidents_per_segment_day=0.0)


def _collect(items: list[tuple[int, RoadBatch, SpotBatch]]) -> list[tuple[int, tuple, tuple]]:
    return [(ts, tuple(a.tobytes() for a in vars(road).values()),
             tuple(a.tobytes() for a in vars(spot).values())) for ts, road, spot in items]


def _run(city: City, seed: int, slices: list[int], start: dt.datetime) -> list:
    sim = Simulator(city, start, seed=seed)
    items: list = []
    for minutes in slices:
        items.extend(sim.batches(start + dt.timedelta(minutes=minutes)))
    return _collect(items)


def test_same_seed_same_batches_however_sliced(city: City) -> None:
    start = local(WORKDAY, 7)
    whole = _run(city, 1, [90], start)
    assert len(whole) == 90
    assert whole == _run(city, 1, [90], start)
    assert whole == _run(city, 1, [1, 17, 17, 60, 89, 90], start)
    assert whole != _run(city, 2, [90], start)


def test_step_until_concatenates(city: City) -> None:
    start = local(WORKDAY, 7)
    road, spot = Simulator(city, start, seed=1).step_until(start + dt.timedelta(minutes=30))
    items = list(Simulator(city, start, seed=1).batches(start + dt.timedelta(minutes=30)))
    assert len(road) == sum(len(r) for _, r, _ in items)
    assert len(spot) == sum(len(s) for _, _, s in items) > 0
    assert np.array_equal(road.flow, np.concatenate([r.flow for _, r, _ in items]),
                          equal_nan=True)


def test_batches_are_well_formed(city: City) -> None:
    sim = Simulator(city, local(WORKDAY, 9), seed=3)
    assert sim.now_ms == int(local(WORKDAY, 9).timestamp() * 1000)
    ts, road, spot = sim.step()
    assert ts == sim.now_ms == int(local(WORKDAY, 9, 1).timestamp() * 1000)
    assert road.sensor.dtype == np.int32 and road.ts_ms.dtype == np.int64
    assert road.flow.dtype == road.speed.dtype == road.occupancy.dtype == np.float32
    assert np.all(road.ts_ms == ts)
    assert np.all(np.diff(road.sensor) > 0)  # one reading per sensor, in order
    assert 0.9 * city.n_sensors < len(road) <= city.n_sensors
    occupancy = road.occupancy[~np.isnan(road.occupancy)]
    assert occupancy.min() >= 0 and occupancy.max() <= 1
    assert len(spot) == 0  # gates report every 5 minutes
    for _ in range(4):
        ts, _, spot = sim.step()
    assert len(spot) > 0 and np.all(spot.ts_ms == ts)
    assert sim.report_interval_s == 60 and sim.spot_interval_s == 300


def test_naive_start_is_local_time(city: City) -> None:
    naive = Simulator(city, dt.datetime(2026, 9, 29, 8), seed=0)
    aware = Simulator(city, local(WORKDAY, 8), seed=0)
    assert naive.now_ms == aware.now_ms
    assert naive.now == dt.datetime(2026, 9, 29, 0, tzinfo=dt.UTC)


def test_start_must_be_on_the_gate_grid(city: City) -> None:
    with pytest.raises(FlowcastUserError, match="boundary"):
        Simulator(city, local(WORKDAY, 8, 3), seed=0)
    with pytest.raises(FlowcastUserError, match="seed"):
        Simulator(city, local(WORKDAY, 8), seed=-1)


def _hourly_flow(ds: FlowDataset) -> pd.Series:
    """Mean flow per sensor and 5-min bucket, by local time of day (decimal hours)."""
    assert ds.roads is not None
    times = pd.DatetimeIndex(ds.roads.time.values).tz_localize("UTC").tz_convert(SHANGHAI)
    flow = np.nanmean(ds.roads.flow.values, axis=0)
    return pd.Series(flow, index=times.hour + times.minute / 60)


def _mean(series: pd.Series, begin: float, end: float) -> float:
    return float(series[(series.index >= begin) & (series.index < end)].mean())


def test_workday_am_and_pm_peaks(days: dict[dt.date, FlowDataset]) -> None:
    flow = _hourly_flow(days[WORKDAY])
    am, pm = _mean(flow, 7.5, 9), _mean(flow, 17.5, 19)
    for peak in (am, pm):
        assert peak > 1.4 * _mean(flow, 13, 14)
        assert peak > 1.4 * _mean(flow, 10.5, 11.5)
        assert peak > 8 * _mean(flow, 3, 4)
    assert _mean(flow, 8, 8.5) > 1.4 * _mean(flow, 13, 13.5)
    assert _mean(flow, 18, 18.5) > 1.4 * _mean(flow, 13, 13.5)


def test_weekend_differs_from_workday(days: dict[dt.date, FlowDataset]) -> None:
    work, rest = _hourly_flow(days[WORKDAY]), _hourly_flow(days[WEEKEND])
    assert _mean(rest, 7.5, 9) < 0.7 * _mean(work, 7.5, 9)  # no morning commute
    assert _mean(rest, 7.5, 9) < 1.15 * _mean(rest, 13, 14)  # flat daytime
    assert _mean(rest, 20, 22) > _mean(work, 20, 22) * 0.9  # evenings stay busy


def test_makeup_working_day_behaves_like_a_workday(days: dict[dt.date, FlowDataset]) -> None:
    work, makeup = _hourly_flow(days[WORKDAY]), _hourly_flow(days[MAKEUP])
    for begin, end in ((7.5, 9), (13, 14), (17.5, 19)):
        assert _mean(makeup, begin, end) == pytest.approx(_mean(work, begin, end), rel=0.15)
    assert _mean(makeup, 7.5, 9) > 1.4 * _mean(makeup, 13, 14)


def _demand_over_capacity(city: City, when: dt.datetime, seed: int) -> np.ndarray:
    demand = RoadDemand(city, SpotModel(city, 300, seed, 1.0), seed, 1.0)
    local_time = when.astimezone(SHANGHAI)
    vph = demand.at(day_context(local_time.date()), local_time.hour * 60 + local_time.minute,
                    int(when.timestamp() * 1000))
    return vph / (city.segment_capacity_vphpl * city.segment_lanes)


def test_congestion_at_peak_on_high_demand_segments(city: City) -> None:
    sim = Simulator(city, local(WORKDAY, 16), seed=6, config=QUIET)
    sim.step_until(local(WORKDAY, 18, 15))
    state = sim.last_segments
    assert state is not None
    ratio = _demand_over_capacity(city, local(WORKDAY, 18, 14), seed=6)
    relative_speed = state.speed_kmh / city.segment_free_flow_kmh
    high, low = ratio > np.quantile(ratio, 0.8), ratio < np.quantile(ratio, 0.4)
    assert relative_speed[high].mean() < relative_speed[low].mean() - 0.2
    assert np.any(state.queue_veh[high] > 0)
    assert state.occupancy[high].mean() > 2 * state.occupancy[low].mean()
    over = ratio > 1.05
    assert np.all(state.queue_veh[over] > 0)


def test_an_incident_backs_up_the_upstream_segments(city: City) -> None:
    ratio = _demand_over_capacity(city, local(WORKDAY, 17), seed=6)
    has_upstream = np.diff(city.upstream.indptr) > 0
    target = int(np.argmax(np.where(has_upstream & (ratio < 0.9), ratio, 0)))
    upstream = city.upstream.neighbours(target)

    def run(incident: bool) -> Simulator:
        sim = Simulator(city, local(WORKDAY, 16, 30), seed=6, config=QUIET)
        if incident:
            sim.add_incident(target, local(WORKDAY, 16, 45), minutes=60, capacity_factor=0.1)
        sim.step_until(local(WORKDAY, 17, 40))
        return sim

    calm, jam = run(False).last_segments, run(True).last_segments
    assert calm is not None and jam is not None
    assert jam.queue_veh[target] > 50 + 3 * calm.queue_veh[target]
    assert jam.speed_kmh[target] < 0.3 * calm.speed_kmh[target]
    assert jam.queue_veh[upstream].sum() > calm.queue_veh[upstream].sum() + 20
    assert jam.speed_kmh[upstream].mean() < 0.8 * calm.speed_kmh[upstream].mean()


def test_add_incident_validates(city: City) -> None:
    sim = Simulator(city, local(WORKDAY), seed=0)
    with pytest.raises(FlowcastUserError):
        sim.add_incident(city.n_segments, local(WORKDAY), 10)
    with pytest.raises(FlowcastUserError):
        sim.add_incident(0, local(WORKDAY), 10, capacity_factor=2.0)


def test_random_incidents_happen_at_the_configured_rate(city: City) -> None:
    config = SimulatorConfig(incidents_per_segment_day=2.0, incident_minutes=(15.0, 15.0))
    sim = Simulator(city, local(WORKDAY), seed=0, config=config)
    active = []
    for _ in sim.batches(local(WORKDAY, 12)):
        active.append(len(sim.active_incidents) / city.n_segments)
    # 2 a day, 15 minutes each: about 2 % of segments blocked at any time
    assert np.mean(active) == pytest.approx(2.0 * 15 / 1440, rel=0.25)
