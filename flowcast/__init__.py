"""flowcast: real-time traffic and tourist-flow prediction for a city's urban brain.

The public API, fifteen names importable from the package (each is loaded on first use, so
``import flowcast`` and the command line stay fast; Numba and LightGBM load only when needed)::

    from flowcast import load_settings, load_city, generate_city, simulate_history, load_dataset
    from flowcast import TrainRun, train_dataset, load_model, BacktestSetup, backtest_roads
    from flowcast import Engine, Bus, BusSink, KafkaSink, Service

Everything else is imported from its own module; ``docs/architecture.md`` is the map.

A tour on a tiny simulated city. A city (here generated; ``load_city`` reads a GeoJSON file)
and three days of detector history, saved as a dataset:

>>> import datetime as dt, tempfile
>>> from pathlib import Path
>>> from flowcast import generate_city, simulate_history, load_dataset
>>> from flowcast.formats.dataset import save_dataset
>>> city = generate_city(24, 1, seed=1)          # 24 detectors, one scenic spot
>>> city.n_sensors, len(city.spot_ids)
(24, 1)
>>> work = Path(tempfile.mkdtemp())
>>> start = dt.datetime(2026, 10, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
>>> history = simulate_history(city, start, days=3, seed=1, progress=False)
>>> path = save_dataset(history, work / "history")
>>> load_dataset(path).roads.sizes["time"]      # 5-minute buckets
864

Train the LightGBM road model (one booster per horizon, with P10/P90) and predict:

>>> from flowcast import TrainRun, train_dataset, load_model
>>> run = TrainRun(path, work / "model", horizons_min=(15, 30), spots=False,
...                lightgbm={"max_rounds": 30})
>>> outcome = train_dataset(run, say=lambda line: None, progress=False)
>>> model = load_model(work / "model")
>>> model.horizons                                # buckets ahead: 15 and 30 minutes
(3, 6)
>>> from flowcast.models.roads.training import road_history
>>> forecast = model.predict(road_history(load_dataset(path).roads))
>>> forecast.y.shape, bool((forecast.p10 <= forecast.p90).all())
((24, 2), True)

Backtest it against the baselines (trained again on the past of each fold):

>>> from flowcast import BacktestSetup, backtest_roads
>>> from flowcast.models.roads.training import TrainConfig
>>> setup = BacktestSetup(model.spec, TrainConfig(horizons=model.horizons, max_rounds=30))
>>> result = backtest_roads(load_dataset(path).roads, setup, progress=False)
>>> sorted(result.predictions["model"].unique())
['historical_average', 'last_value', 'lightgbm', 'profile_persistence', 'seasonal_naive']

Run the streaming engine over the in-process bus: half an hour of live readings in, one road
condition per segment per closed 5-minute bucket out:

>>> from flowcast import Bus, BusSink, Engine, load_settings
>>> from flowcast.engine.clock import EventClock
>>> from flowcast.ingest.simulator import Simulator
>>> from flowcast.ingest.stream import stream_simulation
>>> settings = load_settings(environ={}, overrides={"engine": {"start_from": "earliest"}})
>>> bus = Bus(default_partitions=2)
>>> for topic in settings.topics.all_names():
...     bus.create_topic(topic)
>>> live = start + dt.timedelta(days=3, hours=7)
>>> sent = stream_simulation(Simulator(city, live, seed=1), BusSink(bus),
...                          live + dt.timedelta(minutes=30), 0.0, "json", settings,
...                          progress=False)
>>> consumer = bus.consumer(group_id="flowcast", enable_auto_commit=False,
...                         auto_offset_reset="earliest")
>>> now = EventClock(int((live + dt.timedelta(minutes=30)).timestamp() * 1000))
>>> engine = Engine(city, settings, consumer, [BusSink(bus)], clock=now)
>>> engine.subscribe()
>>> quiet = 0
>>> while quiet < 3:                              # until the backlog is processed
...     quiet = 0 if engine.step().records else quiet + 1
>>> import orjson
>>> out = bus.consumer(settings.topics.road_conditions, group_id="reader",
...                    auto_offset_reset="earliest")
>>> conditions = [orjson.loads(r.value) for batch in out.poll(timeout_ms=50).values()
...               for r in batch]
>>> {c["segment"] for c in conditions} == set(city.segment_ids.tolist())
True
>>> [f["horizon_min"] for f in conditions[0]["forecast"]]
[15, 30, 45, 60]

``Service.start(city, settings, consumer, port=...)`` serves those topics as the guidance
screen, the bureau page and the HTTP API (``flowcast/serve/service.py``).
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("flowcast")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

# public name -> module that defines it: what a library user needs to run the engine, train,
# backtest and serve. Everything else is imported from its own module.
_EXPORTS: dict[str, str] = {
    "load_settings": "flowcast.config",
    "load_city": "flowcast.formats.city_read",
    "generate_city": "flowcast.ingest.simulator",
    "simulate_history": "flowcast.ingest.simulator",
    "load_dataset": "flowcast.formats.dataset",
    "TrainRun": "flowcast.evaluation.training_run",
    "train_dataset": "flowcast.evaluation.training_run",
    "load_model": "flowcast.models.roads.artifact",
    "BacktestSetup": "flowcast.evaluation.backtest",
    "backtest_roads": "flowcast.evaluation.backtest",
    "Engine": "flowcast.engine.loop",
    "Bus": "flowcast.transport.bus.broker",
    "BusSink": "flowcast.transport.sinks",
    "KafkaSink": "flowcast.transport.sinks",
    "Service": "flowcast.serve.service",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowcast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
