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
    "load_city": "flowcast.city",
    "save_city": "flowcast.city",
    "Engine": "flowcast.engine",
    "Metrics": "flowcast.metrics",
    "ModelHolder": "flowcast.model_holder",
    "Bus": "flowcast.ingest.bus",
    "BusSink": "flowcast.ingest.sinks",
    "KafkaSink": "flowcast.ingest.sinks",
    "generate_city": "flowcast.ingest.simulator",
    "Simulator": "flowcast.ingest.simulator",
    "SimulatorConfig": "flowcast.ingest.simulator",
    "simulate_history": "flowcast.ingest.simulator",
    "load_dataset": "flowcast.models.dataset",
    "save_dataset": "flowcast.models.dataset",
    "RoadForecaster": "flowcast.models.road_model",
    "predict_live": "flowcast.models.road_model",
    "FeatureSpec": "flowcast.models.features",
    "TrainConfig": "flowcast.models.training",
    "road_history": "flowcast.models.training",
    "train_road_model": "flowcast.models.training",
    "load_model": "flowcast.models.artifact",
    "save_model": "flowcast.models.artifact",
    "backtest_roads": "flowcast.models.backtest",
    "SpotForecaster": "flowcast.models.spot_model",
    "load_spot_model": "flowcast.models.spot_model",
    "AlertTracker": "flowcast.publish.alerts",
    "LiveView": "flowcast.publish.view",
    "OutputReader": "flowcast.publish.output_reader",
    "create_app": "flowcast.publish.http",
    "HttpServer": "flowcast.publish.http",
    "replay_roads": "flowcast.replay",
    "Demo": "flowcast.demo",
    "DemoOptions": "flowcast.demo",
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
