"""flowcast: real-time traffic and tourist-flow prediction for a city's urban brain.

The public API, importable from the package (each name is loaded on first use, so ``import
flowcast`` and the command line stay fast; Numba and LightGBM load only when needed)::

    from flowcast import load_settings, load_city, Engine, Bus, BusSink, KafkaSink
    from flowcast import generate_city, Simulator, simulate_history
    from flowcast import load_dataset, save_dataset
    from flowcast import train_road_model, load_model, save_model, backtest_roads
    from flowcast import LiveView, OutputReader, create_app, HttpServer, AlertTracker
    from flowcast import replay_roads, Demo, DemoOptions

See README.md and DESIGN.md for how the pieces fit.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("flowcast")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Settings": "flowcast.config",
    "load_settings": "flowcast.config",
    "FlowcastUserError": "flowcast.errors",
    "City": "flowcast.city",
    "load_city": "flowcast.formats.city_read",
    "save_city": "flowcast.formats.city_write",
    "Engine": "flowcast.engine.loop",
    "Metrics": "flowcast.engine.metrics",
    "ModelHolder": "flowcast.engine.model_holder",
    "Bus": "flowcast.transport.bus.broker",
    "BusSink": "flowcast.transport.sinks",
    "KafkaSink": "flowcast.transport.sinks",
    "generate_city": "flowcast.ingest.simulator",
    "Simulator": "flowcast.ingest.simulator",
    "SimulatorConfig": "flowcast.ingest.simulator",
    "simulate_history": "flowcast.ingest.simulator",
    "load_dataset": "flowcast.formats.dataset",
    "save_dataset": "flowcast.formats.dataset",
    "RoadForecaster": "flowcast.models.roads.forecaster",
    "predict_live": "flowcast.models.roads.forecaster",
    "FeatureSpec": "flowcast.models.roads.feature_spec",
    "TrainConfig": "flowcast.models.roads.training",
    "road_history": "flowcast.models.roads.training",
    "train_road_model": "flowcast.models.roads.training",
    "load_model": "flowcast.models.roads.artifact",
    "save_model": "flowcast.models.roads.artifact",
    "backtest_roads": "flowcast.evaluation.backtest",
    "SpotForecaster": "flowcast.models.spots.forecaster",
    "load_spot_model": "flowcast.models.spots.artifact",
    "AlertTracker": "flowcast.publish.spots.alerts",
    "LiveView": "flowcast.serve.view",
    "OutputReader": "flowcast.serve.output_reader",
    "create_app": "flowcast.serve.http",
    "HttpServer": "flowcast.serve.http",
    "replay_roads": "flowcast.evaluation.replay",
    "Demo": "flowcast.cli.demo.app",
    "DemoOptions": "flowcast.cli.demo.app",
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
