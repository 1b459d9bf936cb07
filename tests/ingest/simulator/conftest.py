"""Shared fixtures: small generated cities and simulated days, built once per session."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from flowcast.city import City
from flowcast.formats.city_read import city_from_geojson
from flowcast.formats.dataset import FlowDataset
from flowcast.ingest.simulator import generate_city, simulate_history

SHANGHAI = ZoneInfo("Asia/Shanghai")
WORKDAY = dt.date(2026, 9, 29)  # a plain Tuesday
GOLDEN = dt.date(2026, 10, 3)  # National Day golden week, day 3
MAKEUP = dt.date(2026, 10, 10)  # Saturday made a working day after National Day
WEEKEND = dt.date(2026, 10, 11)  # a plain Sunday


def local(date: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An aware datetime in the city's time zone."""
    return dt.datetime(date.year, date.month, date.day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="session")
def city() -> City:
    """A small generated city: ~150 sensors, 6 spots."""
    return generate_city(150, 6, seed=3)


@pytest.fixture(scope="session")
def days(city: City) -> dict[dt.date, FlowDataset]:
    """One simulated day of history per day type of interest (default config)."""
    return {day: simulate_history(city, local(day), 1, seed=5, progress=False)
            for day in (WORKDAY, GOLDEN, MAKEUP, WEEKEND)}


def chain_city(n: int = 3, lanes: int = 2, length_m: float = 500.0) -> City:
    """Segments A0 -> A1 -> ... in a straight line, one sensor each, arterial class."""
    features = []
    for i in range(n):
        lon = 110.30 + 0.005 * i
        features.append({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[lon, 20.0], [lon + 0.005, 20.0]]},
            "properties": {"kind": "segment", "id": f"A{i}", "road_class": "arterial",
                           "length_m": length_m, "free_flow_kmh": 50.0, "lanes": lanes,
                           "capacity_vphpl": 1600.0, "region": "R1",
                           "downstream": [f"A{i + 1}"] if i + 1 < n else []},
        })
        features.append({
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [lon + 0.0025, 20.0]},
            "properties": {"kind": "sensor", "id": f"S{i}", "segment": f"A{i}"},
        })
    return city_from_geojson({"type": "FeatureCollection", "features": features})
