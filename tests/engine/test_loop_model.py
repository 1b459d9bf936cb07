"""The engine serving a LightGBM model: forecasts and intervals from the model, a new
version picked up without a restart, a broken one refused while the old keeps serving."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_harness import engine_test_settings, quiet_simulator, small_city

from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.engine.model_holder import ModelHolder
from flowcast.ingest.simulator import simulate_history
from flowcast.ingest.stream import stream_simulation
from flowcast.models.roads.artifact import save_model
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.training import TrainConfig, road_history, train_road_model
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink

TZ = dt.timezone(dt.timedelta(hours=8))
TRAIN_START = dt.datetime(2026, 10, 12, 0, 0, tzinfo=TZ)
LIVE_START = dt.datetime(2026, 10, 14, 6, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def city() -> Any:
    return small_city(sensors=60, spots=1)


@pytest.fixture(scope="module")
def model_dir(city: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained on two simulated days before the live stream starts; its
    neighbour features read the undirected and both directed sensor graphs, which every
    partition's cycle must localize to its own sensors."""
    dataset = simulate_history(city, TRAIN_START, days=2, seed=5, progress=False)
    history = road_history(dataset.roads, city=city)
    config = TrainConfig(horizons=(3, 6, 9, 12), max_rounds=40, early_stopping=10,
                         quantiles=True, threads=1)
    spec = FeatureSpec(neighbour_directions=("all", "up", "down"))
    result = train_road_model(history, spec, config, progress=False)
    return save_model(result.model, tmp_path_factory.mktemp("models") / "road")


def _run(city: Any, settings: Settings, holder: ModelHolder | None, hours: float = 1.0
         ) -> tuple[Bus, Engine]:
    bus = Bus(default_partitions=2, retention=1_000_000)
    for topic in settings.topics.all_names():
        bus.create_topic(topic)
    stream_simulation(quiet_simulator(city, LIVE_START), BusSink(bus),
                      LIVE_START + dt.timedelta(hours=hours), 0.0, "json", settings,
                      progress=False)
    clock = EventClock(int((LIVE_START + dt.timedelta(hours=hours)).timestamp() * 1000))
    consumer = bus.consumer(group_id="e", enable_auto_commit=False, auto_offset_reset="earliest")
    engine = Engine(city, settings, consumer, [BusSink(bus)], clock=clock, models=holder)
    engine.subscribe()
    quiet = 0
    while quiet < 3:
        quiet = quiet + 1 if engine.step().records == 0 else 0
    return bus, engine


def _conditions(bus: Bus, settings: Settings) -> list[dict[str, Any]]:
    consumer = bus.consumer(settings.topics.road_conditions, group_id=f"r-{uuid.uuid4()}",
                            auto_offset_reset="earliest")
    out: list[dict[str, Any]] = []
    while polled := consumer.poll(timeout_ms=50, max_records=100_000):
        for records in polled.values():
            out += [orjson.loads(r.value) for r in records]
    return out


def test_engine_serves_the_model_with_intervals(city: Any, model_dir: Path) -> None:
    settings = engine_test_settings(Settings())
    holder = ModelHolder.roads(model_dir, bucket_s=300)
    bus, engine = _run(city, settings, holder)
    messages = _conditions(bus, settings)
    assert messages
    version = json.loads((model_dir / "model.json").read_text())["version"]
    assert {m["model"] for m in messages} == {f"lightgbm:{version}"}
    for m in messages[:50]:
        assert [f["horizon_min"] for f in m["forecast"]] == [15, 30, 45, 60]
        for f in m["forecast"]:
            assert f["speed_p10"] <= f["speed_p90"]
            assert f["speed"] >= 0 and 1 <= f["level"] <= 5
            assert f["confidence"] in {"high", "medium", "low"}  # the model has intervals
            assert 0 <= f["confidence_score"] <= 1
        assert m["trend"] == m["forecast"][0]["trend"]
    assert engine.metrics.counter("flowcast_model_failures_total") == 0


def test_new_version_is_picked_up_and_a_broken_one_refused(city: Any, model_dir: Path,
                                                          tmp_path: Path) -> None:
    live = tmp_path / "live"
    save_model(_reload(model_dir), live)
    holder = ModelHolder.roads(live, bucket_s=300, check_every_s=0.0)
    first = holder.version
    assert holder.current() is not None
    time.sleep(1.1)  # version ids carry the save time to the second
    save_model(_reload(model_dir), live, overwrite=True)
    assert holder.current() is not None and holder.version != first
    second = holder.version
    # /metrics says which version is in service, and only that one
    assert holder.metrics.gauge("flowcast_model_info", version=second) == 1
    assert holder.metrics.gauge("flowcast_model_info", version=first) == 0
    (live / "model.json").write_text("{ not json", encoding="utf-8")
    assert holder.current() is not None  # the old model keeps serving
    assert holder.version == second
    assert holder.metrics.counter("flowcast_model_load_failures_total") >= 1


def test_a_missing_model_is_a_clear_user_error(tmp_path: Path) -> None:
    from flowcast.errors import FlowcastUserError

    with pytest.raises(FlowcastUserError):
        ModelHolder.roads(tmp_path / "nothing-here", bucket_s=300)
    holder = ModelHolder.roads(tmp_path / "nothing-here", bucket_s=300, required=False)
    assert holder.current() is None


def _reload(path: Path) -> Any:
    from flowcast.models.roads.artifact import load_model

    return load_model(path)
