"""The per-segment traffic model: fundamental diagram, queues, incidents, spill-back."""

from __future__ import annotations

import numpy as np
import pytest

from flowcast.ingest.simulator.roads import K_JAM, MAX_QUEUE_STORAGES, RoadModel, SegmentState

from .conftest import chain_city

CAPACITY = 2 * 1600.0  # vehicles per hour, two lanes


def _run(model: RoadModel, demand: np.ndarray, minutes: int, start_ms: int = 0) -> SegmentState:
    state = None
    for i in range(minutes):
        state = model.step(demand, start_ms + i * 60_000)
    assert state is not None
    return state


def test_light_traffic_runs_at_free_flow() -> None:
    model = RoadModel(chain_city(1), 60)
    state = _run(model, np.array([0.1 * CAPACITY]), 10)
    assert state.flow_vph[0] == pytest.approx(0.1 * CAPACITY)
    assert state.speed_kmh[0] > 0.98 * 50
    assert state.occupancy[0] < 0.05
    assert state.queue_veh[0] == 0


def test_speed_falls_as_demand_nears_capacity() -> None:
    speeds = []
    occupancy = []
    for ratio in (0.2, 0.5, 0.8, 0.95):
        state = _run(RoadModel(chain_city(1), 60), np.array([ratio * CAPACITY]), 5)
        speeds.append(state.speed_kmh[0])
        occupancy.append(state.occupancy[0])
    assert speeds == sorted(speeds, reverse=True)
    assert occupancy == sorted(occupancy)
    assert speeds[-1] < 0.7 * 50


def test_overload_builds_a_queue_that_carries_over_and_drains() -> None:
    model = RoadModel(chain_city(1, length_m=2000.0), 60)
    over = _run(model, np.array([1.3 * CAPACITY]), 30)
    assert over.flow_vph[0] == pytest.approx(CAPACITY)  # served at capacity, not more
    assert over.queue_veh[0] == pytest.approx(0.3 * CAPACITY / 2)  # 30 min of 30 % excess
    assert over.speed_kmh[0] < 20
    assert over.occupancy[0] > 0.3
    after = _run(model, np.array([0.5 * CAPACITY]), 5, start_ms=30 * 60_000)
    assert 0 < after.queue_veh[0] < over.queue_veh[0]
    assert after.flow_vph[0] == pytest.approx(CAPACITY)  # discharging the queue at capacity
    drained = _run(model, np.array([0.5 * CAPACITY]), 60, start_ms=35 * 60_000)
    assert drained.queue_veh[0] == 0
    assert drained.speed_kmh[0] > 0.8 * 50


def test_occupancy_speed_and_queue_stay_physical() -> None:
    model = RoadModel(chain_city(1), 60)
    state = _run(model, np.array([5 * CAPACITY]), 120)
    storage = 0.5 * 2 * K_JAM  # 500 m, two lanes at jam density
    assert state.queue_veh[0] == pytest.approx(MAX_QUEUE_STORAGES * storage)  # the rest divert
    assert 0 < state.occupancy[0] <= 0.98
    assert state.speed_kmh[0] >= 3.0
    assert state.occupancy[0] == pytest.approx(min(0.98, K_JAM * 0.0065))


def test_incident_cuts_capacity_for_its_duration() -> None:
    model = RoadModel(chain_city(1), 60)
    model.start_incidents(np.array([0]), 0, np.array([20.0]), np.array([0.25]))
    during = _run(model, np.array([0.6 * CAPACITY]), 20)
    assert during.flow_vph[0] == pytest.approx(0.25 * CAPACITY)
    assert during.queue_veh[0] > 0
    after = model.step(np.array([0.6 * CAPACITY]), 20 * 60_000)
    assert after.flow_vph[0] == pytest.approx(CAPACITY)  # incident over: the queue discharges


def test_a_full_segment_backs_traffic_up_onto_its_upstream() -> None:
    def run(incident: bool) -> SegmentState:
        model = RoadModel(chain_city(3), 60)
        if incident:
            model.start_incidents(np.array([2]), 0, np.array([90.0]), np.array([0.1]))
        return _run(model, np.full(3, 0.7 * CAPACITY), 60)

    calm, jammed = run(False), run(True)
    assert jammed.queue_veh[2] > 0
    # the jam spreads upstream, hop by hop
    assert jammed.queue_veh[1] > 0 and jammed.speed_kmh[1] < 0.5 * calm.speed_kmh[1]
    assert jammed.queue_veh[0] > 0 and jammed.speed_kmh[0] < calm.speed_kmh[0]
    assert calm.queue_veh.sum() == 0
