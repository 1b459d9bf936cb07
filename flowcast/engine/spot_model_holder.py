"""The live spot model: ``MODEL_DIR/spots``, swapped in when a new version lands there.

The spot cycle asks :meth:`SpotModelHolder.current` once per cycle. Every ``check_every_s`` the
holder reads the directory's ``model.json``; when its version id changes it loads the new model
and swaps it in. A model that fails to load (half-copied, another bucket or other horizons,
corrupt) is refused with a log line and a metric, and the previous one keeps serving. With none
loaded the cycle serves its baselines (seasonal naive, then last value); a spot model written
later into an empty or missing ``spots/`` is picked up the same way, without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from flowcast.engine.metrics import Metrics
from flowcast.errors import FlowcastUserError
from flowcast.models.spots.forecaster import SpotForecaster, load_spot_model, read_spot_model_json

log = logging.getLogger("flowcast.model")


class SpotModelHolder:
    """Holds the spot model of a ``spots/`` directory and reloads it when it changes.

    ``bucket_s`` and ``horizons`` (buckets) are what the engine serves; a model for others is
    refused (kept out of service), never served."""

    def __init__(self, path: str | Path, *, bucket_s: int, horizons: Sequence[int],
                 metrics: Metrics | None = None, check_every_s: float = 10.0) -> None:
        """Try to load the model at ``path`` now; without one the engine starts on its
        baselines and keeps looking."""
        self.path = Path(path)
        self.bucket_s = int(bucket_s)
        self.horizons = tuple(int(h) for h in horizons)
        self.metrics = metrics or Metrics()
        self.check_every_s = check_every_s
        self._model: SpotForecaster | None = None
        self._version: str | None = None
        self._refused: str | None = None  # version last refused, so it is logged once
        self._checked = time.monotonic()
        self.metrics.describe("flowcast_spot_model_loads_total", "Spot models loaded")
        self.metrics.describe("flowcast_spot_model_load_failures_total",
                              "Spot model versions refused (the previous one kept serving)")
        if not (self.path / "model.json").is_file():
            log.info("no spot model at %s yet; spot forecasts are seasonal naive", self.path)
            return
        self._reload_if_changed()

    @property
    def version(self) -> str | None:
        """Version id of the spot model in service, or None."""
        return self._version

    def current(self) -> SpotForecaster | None:
        """The spot model for this cycle (looking at the directory at most every
        ``check_every_s`` seconds), or None: serve the baselines."""
        now = time.monotonic()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            self._reload_if_changed()
        return self._model

    def _reload_if_changed(self) -> None:
        if not (self.path / "model.json").is_file():
            return  # nothing (yet, or any more): keep what serves
        try:
            version = str(read_spot_model_json(self.path).get("version"))
        except FlowcastUserError as err:
            self._refuse(err, None)
            return
        if version in (self._version, self._refused):
            return
        try:
            self._load()
        except FlowcastUserError as err:
            self._refuse(err, version)

    def _load(self) -> None:
        model = load_spot_model(self.path, bucket_s=self.bucket_s, horizons=self.horizons)
        if self._version is not None:  # the replaced version is no longer in service
            self.metrics.set("flowcast_spot_model_info", 0, version=self._version)
        self._model = model
        self._version = model.version
        self._refused = None
        self.metrics.inc("flowcast_spot_model_loads_total")
        self.metrics.set("flowcast_spot_model_info", 1, version=model.version)
        log.info("serving spot model %s from %s", model.version, self.path)

    def _refuse(self, err: Exception, version: str | None) -> None:
        self._refused = version
        self.metrics.inc("flowcast_spot_model_load_failures_total")
        log.warning("spot model at %s not loaded (%s); still serving %s", self.path, err,
                    self._version or "the seasonal-naive baseline")
