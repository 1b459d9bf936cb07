"""Congestion levels by road class, and travel times."""

from __future__ import annotations

import numpy as np
import pytest

from flowcast.city import ROAD_CLASSES
from flowcast.config import LevelSettings, load_settings
from flowcast.errors import FlowcastUserError
from flowcast.publish.roads.levels import band_table, levels, travel_times_s

EXPRESSWAY = ROAD_CLASSES.index("expressway")
ARTERIAL = ROAD_CLASSES.index("arterial")
BRANCH = ROAD_CLASSES.index("branch")


def test_design_bands_at_their_edges() -> None:
    bands = band_table(LevelSettings())
    speeds = np.array([66, 65, 50.1, 50, 35, 20.5, 20, 0, np.nan])
    got = levels(speeds, np.full(len(speeds), EXPRESSWAY), bands)
    assert got.tolist() == [1, 2, 2, 3, 4, 4, 5, 5, 0]
    arterial = levels(np.array([41, 40, 30, 20, 15, 14]), np.full(6, ARTERIAL), bands)
    assert arterial.tolist() == [1, 2, 3, 4, 5, 5]
    branch = levels(np.array([36, 35, 25, 15, 10]), np.full(5, BRANCH), bands)
    assert branch.tolist() == [1, 2, 3, 4, 5]


def test_levels_broadcast_over_horizons() -> None:
    bands = band_table(LevelSettings())
    speed = np.array([[70.0, 45.0], [45.0, 12.0]])  # 2 segments x 2 horizons
    got = levels(speed, np.array([[EXPRESSWAY], [ARTERIAL]]), bands)
    assert got.tolist() == [[1, 3], [1, 5]]


def test_bands_are_configuration() -> None:
    custom = LevelSettings(arterial=(50.0, 40.0, 30.0, 20.0))
    got = levels(np.array([45.0]), np.array([ARTERIAL]), band_table(custom))
    assert got.tolist() == [2]
    with pytest.raises(FlowcastUserError, match="descending"):
        load_settings(environ={"FLOWCAST_LEVELS_ARTERIAL": "[10, 20, 30, 40]"})


def test_travel_time_is_finite_for_a_stopped_road() -> None:
    got = travel_times_s(np.array([1000.0, 1000.0, 1000.0]), np.array([36.0, 0.0, np.nan]), 3.0)
    assert got[0] == pytest.approx(100.0)
    assert got[1] == pytest.approx(1200.0)
    assert np.isnan(got[2])
