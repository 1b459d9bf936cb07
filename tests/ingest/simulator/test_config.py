"""Simulator configuration: intervals must nest, ranges must make sense."""

from __future__ import annotations

import pytest

from flowcast.errors import FlowcastUserError
from flowcast.ingest.simulator import SimulatorConfig


def test_defaults() -> None:
    config = SimulatorConfig()
    assert (config.report_interval_s, config.spot_interval_s) == (60, 300)
    assert (config.road_bucket_s, config.spot_bucket_s) == (300, 900)


@pytest.mark.parametrize("kwargs", [
    {"report_interval_s": 0},
    {"report_interval_s": 7},  # does not divide a day
    {"report_interval_s": 120, "spot_interval_s": 300},  # gate interval not a multiple
    {"road_bucket_s": 90},
    {"spot_bucket_s": 450},  # not a multiple of the 300 s gate interval
    {"headcount_interval_s": 450},
    {"demand_scale": 0},
    {"incidents_per_segment_day": -1},
    {"incident_minutes": (30.0, 10.0)},
    {"incident_capacity": (0.5, 1.5)},
])
def test_bad_settings_are_user_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(FlowcastUserError):
        SimulatorConfig(**kwargs)  # type: ignore[arg-type]


def test_head_counts_can_be_switched_off() -> None:
    assert SimulatorConfig(headcount_interval_s=0).headcount_interval_s == 0
