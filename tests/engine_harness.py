"""Helpers shared by the engine tests: a simulated city streamed into a bus or a broker, a
settable clock, and readers of the output topics."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import numpy as np
import orjson

from flowcast.city import City
from flowcast.config import Settings
from flowcast.ingest.simulator import FaultConfig, Simulator, SimulatorConfig, generate_city


def small_city(sensors: int = 120, spots: int = 3, seed: int = 5) -> City:
    """A small synthetic city."""
    return generate_city(sensors, spots, seed=seed)


def quiet_simulator(city: City, start: dt.datetime, seed: int = 5) -> Simulator:
    """A simulator without detector dropouts, so every sensor reports every interval."""
    config = SimulatorConfig(faults=FaultConfig.none())
    return Simulator(city, start, seed=seed, config=config)


def engine_test_settings(base: Settings, **engine: Any) -> Settings:
    """``base`` with the engine tuned for tests: start from the earliest offset, small polls."""
    data = base.model_dump()
    data["engine"].update({"start_from": "earliest", "poll_max_records": 2000} | engine)
    data["time"].update({"idle_timeout_s": 2})
    return Settings.model_validate(data)


def conditions_by_issue(records: list[Any]) -> dict[int, dict[str, bytes]]:
    """``{issued_at: {segment or spot id: message bytes}}`` of output records."""
    out: dict[int, dict[str, bytes]] = defaultdict(dict)
    for record in records:
        message = orjson.loads(record.value)
        ident = message.get("segment", message.get("spot"))
        out[message["issued_at"]][ident] = record.value
    return dict(out)


def check_condition_values(messages: dict[int, dict[str, bytes]], city: City) -> None:
    """Every road condition message is sane: speeds within 0..1.3x free flow, levels 1..5,
    finite positive travel times, issue times on the bucket grid."""
    free_flow = dict(zip(city.segment_ids.tolist(), city.segment_free_flow_kmh.tolist(),
                         strict=True))
    for issued_at, by_segment in messages.items():
        assert issued_at % 300_000 == 0
        for segment, raw in by_segment.items():
            m = orjson.loads(raw)
            speeds = [m["now"]["speed"]] + [f["speed"] for f in m["forecast"]]
            assert all(0 <= s <= 1.3 * free_flow[segment] for s in speeds), m
            levels = [m["now"]["level"]] + [f["level"] for f in m["forecast"]]
            assert all(1 <= lv <= 5 for lv in levels), m
            times = [m["now"]["travel_time_s"]] + [f["travel_time_s"] for f in m["forecast"]]
            assert all(np.isfinite(t) and t > 0 for t in times), m
            assert [f["horizon_min"] for f in m["forecast"]] == [15, 30, 45, 60]
            assert [f["valid_at"] - issued_at for f in m["forecast"]] == [
                900_000, 1_800_000, 2_700_000, 3_600_000]
