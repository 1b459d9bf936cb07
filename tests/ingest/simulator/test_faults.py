"""Detector faults happen at the configured rates, and look like real detector faults."""

from __future__ import annotations

import numpy as np
import pytest

from flowcast.errors import FlowcastUserError
from flowcast.ingest.simulator import FaultConfig, Simulator, SimulatorConfig, generate_city
from flowcast.ingest.simulator.faults import DetectorFaults

from .conftest import WORKDAY, local

RATES = FaultConfig(dropout=0.05, nan=0.03, stuck=0.05, stuck_minutes=20.0, zeros=0.03,
                    zeros_minutes=30.0, spike=0.01)


def _rates(present: np.ndarray, flow: np.ndarray, occ: np.ndarray, speed: np.ndarray,
           max_flow: np.ndarray) -> dict[str, float]:
    """Realised fault rates from readings shaped (steps, sensors); ``present`` False = missing."""
    same = np.zeros_like(present)
    last = np.full((3, present.shape[1]), np.nan)
    for t in range(present.shape[0]):  # loop over time, all sensors at once
        now = np.stack([flow[t], occ[t], speed[t]])
        same[t] = present[t] & np.all((now == last) | (np.isnan(now) & np.isnan(last)), axis=0)
        last[:, present[t]] = now[:, present[t]]
    zeros = present & (flow == 0) & (speed == 0) & (occ > 0)
    healthy = present & ~same & ~zeros
    nan = healthy & (np.isnan(flow) | np.isnan(occ) | np.isnan(speed))
    spike = healthy & ((speed > 150) | (flow > max_flow))
    n = present.sum()
    return {"dropout": 1 - present.mean(), "stuck": same.sum() / n, "zeros": zeros.sum() / n,
            "nan": nan.sum() / healthy.sum(), "spike": spike.sum() / healthy.sum()}


def _assert_close(rates: dict[str, float], config: FaultConfig, tolerance: float) -> None:
    for name, value in rates.items():
        assert value == pytest.approx(getattr(config, name), rel=tolerance), name


def test_fault_model_realises_the_configured_rates() -> None:
    n, steps = 4000, 240
    faults = DetectorFaults(n, RATES, 60, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    shape = (steps, n)
    out = {k: np.empty(shape) for k in ("flow", "occ", "speed")}
    present = np.empty(shape, bool)
    for t in range(steps):
        read = faults.apply(rng.poisson(20, n).astype(float), rng.uniform(0.05, 0.3, n),
                            rng.uniform(20, 60, n), rng)
        present[t], out["flow"][t], out["occ"][t], out["speed"][t] = (
            read.present, read.flow, read.occupancy, read.speed)
    rates = _rates(present, out["flow"], out["occ"], out["speed"], np.full(n, 60.0))
    _assert_close(rates, RATES, 0.2)


def test_no_faults_means_clean_readings() -> None:
    faults = DetectorFaults(500, FaultConfig.none(), 60, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    flow = rng.poisson(20, 500).astype(float)
    read = faults.apply(flow, np.full(500, 0.1), np.full(500, 40.0), rng)
    assert read.present.all()
    assert np.array_equal(read.flow, flow)


def test_simulated_readings_carry_faults_at_the_configured_rates() -> None:
    city = generate_city(600, 1, seed=12)
    config = SimulatorConfig(faults=RATES)
    sim = Simulator(city, local(WORKDAY, 10), seed=2, config=config)
    steps, n = 300, city.n_sensors
    present = np.zeros((steps, n), bool)
    values = {k: np.full((steps, n), np.nan) for k in ("flow", "occupancy", "speed")}
    for t, (_, road, _) in enumerate(sim.batches(local(WORKDAY, 15))):
        present[t, road.sensor] = True
        for k in values:
            values[k][t, road.sensor] = getattr(road, k)
    lanes = city.segment_lanes[city.sensor_segment].astype(float)
    rates = _rates(present, values["flow"], values["occupancy"], values["speed"], 40.0 * lanes)
    _assert_close(rates, RATES, 0.35)


def test_rates_are_validated() -> None:
    with pytest.raises(FlowcastUserError, match="dropout"):
        FaultConfig(dropout=1.5)
    with pytest.raises(FlowcastUserError, match="stuck_minutes"):
        FaultConfig(stuck_minutes=0)
