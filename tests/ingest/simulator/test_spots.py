"""Scenic spots: morning surges, holiday crowds, dwell, opening hours, saturation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flowcast.city import City
from flowcast.formats.dataset import FlowDataset
from flowcast.ingest.simulator import Simulator, SimulatorConfig
from flowcast.ingest.simulator.spots import SpotModel

from .conftest import GOLDEN, MAKEUP, WEEKEND, WORKDAY, local


def _local_minutes(ds: FlowDataset) -> np.ndarray:
    assert ds.spots is not None
    times = pd.DatetimeIndex(ds.spots.time.values).tz_localize("UTC").tz_convert("Asia/Shanghai")
    return np.asarray(times.hour * 60 + times.minute)


def _saturation(ds: FlowDataset) -> np.ndarray:
    assert ds.spots is not None
    return (ds.spots.visitors / ds.spots.capacity_instant).values


def test_golden_week_saturates_a_spot_and_a_workday_does_not(
        days: dict[dt.date, FlowDataset]) -> None:
    assert _saturation(days[GOLDEN]).max() >= 1.0
    assert _saturation(days[WORKDAY]).max() < 0.8


def test_holidays_and_weekends_draw_more_visitors(days: dict[dt.date, FlowDataset]) -> None:
    daily = {day: float(ds.spots.arrivals.sum()) for day, ds in days.items()}  # type: ignore[union-attr]
    assert daily[GOLDEN] > 1.5 * daily[WEEKEND] > 1.5 * daily[WORKDAY]
    assert daily[MAKEUP] < 0.7 * daily[WEEKEND]  # a make-up Saturday is a working day


def test_arrivals_surge_in_the_morning(days: dict[dt.date, FlowDataset]) -> None:
    minutes = _local_minutes(days[GOLDEN])
    arrivals = days[GOLDEN].spots.arrivals.values.sum(axis=0)  # type: ignore[union-attr]
    assert 9 * 60 <= minutes[np.argmax(arrivals)] <= 11 * 60 + 30


def test_nobody_inside_before_opening_or_after_closing(
        city: City, days: dict[dt.date, FlowDataset]) -> None:
    for ds in days.values():
        start = _local_minutes(ds)
        visitors = ds.spots.visitors.values  # type: ignore[union-attr]
        arrivals = ds.spots.arrivals.values  # type: ignore[union-attr]
        for k in range(city.n_spots):
            before = start + 15 <= city.spot_opens_min[k]
            after = start >= city.spot_closes_min[k]
            assert np.all(visitors[k, before] == 0) and np.all(arrivals[k, before] == 0)
            assert np.all(visitors[k, after] == 0)
            assert visitors[k, ~before & ~after].max() > 0


def test_gate_counts_add_up_to_people_inside(city: City) -> None:
    config = SimulatorConfig(faults=SimulatorConfig().faults.none())
    sim = Simulator(city, local(WORKDAY), seed=1, config=config)
    entries = np.zeros(city.n_spots)
    exits = np.zeros(city.n_spots)
    counts: list[tuple[np.ndarray, np.ndarray]] = []
    for ts, _, spots in sim.batches(local(WORKDAY + dt.timedelta(days=1))):
        gate = ~np.isnan(spots.entries)
        np.add.at(entries, spots.spot[gate], spots.entries[gate])
        np.add.at(exits, spots.spot[gate], spots.exits[gate])
        if ts % 300_000 == 0:
            assert np.allclose(entries - exits, sim.spot_truth.inside)
        head = ~np.isnan(spots.count)
        if head.any():
            counts.append((spots.count[head], sim.spot_truth.inside[spots.spot[head]]))
    assert entries.sum() == exits.sum() > 0  # everyone who came in left by closing
    reported, true = (np.concatenate(c) for c in zip(*counts, strict=True))
    assert len(reported) > city.n_spots * 5
    busy = true > 500
    assert np.allclose(reported[busy], true[busy], rtol=0.1)


def test_dwell_times_are_a_few_hours(city: City) -> None:
    model = SpotModel(city, 300, seed=0, tourism_scale=1.0)
    ten_am = 10 * 12
    probs = model.leave_probs(ten_am)
    hours = (np.arange(model.n_slots) - ten_am) * 5 / 60
    mean_stay = (probs * hours).sum(axis=1)
    assert np.all((mean_stay > 1.5) & (mean_stay < 4.5))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert np.all(probs[:, : ten_am + 1] == 0)
    closed = np.arange(model.n_slots)[None, :] >= model.close_slot[:, None]
    assert np.all(probs[closed] == 0)  # nobody stays past closing


def test_a_run_starting_at_noon_finds_visitors_inside(city: City) -> None:
    noon = Simulator(city, local(GOLDEN, 12), seed=4)
    midnight = Simulator(city, local(GOLDEN), seed=4)
    midnight.step_until(local(GOLDEN, 12))
    assert noon.spot_truth.inside.sum() > 0
    assert np.array_equal(noon.spot_truth.inside, midnight.spot_truth.inside)


@pytest.mark.parametrize("scale", [0.0, 2.0])
def test_tourism_scale(city: City, scale: float) -> None:
    base = SpotModel(city, 300, seed=0, tourism_scale=1.0).daily_arrivals(GOLDEN)
    scaled = SpotModel(city, 300, seed=0, tourism_scale=scale).daily_arrivals(GOLDEN)
    assert np.allclose(scaled, scale * base)
