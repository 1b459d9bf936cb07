"""The live model: loaded from a model directory, swapped in when a new version lands there.

The engine asks :meth:`ModelHolder.current` once per forecast cycle. Every ``check_every_s`` the
holder looks at the directory's ``model.json``; when its version id changes it loads the new
model and swaps it in. A model that fails to load (half-copied, incompatible, corrupt) is
refused with a log line and a metric, and the previous one keeps serving; with none loaded the
engine serves its baselines.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from flowcast.engine.metrics import Metrics
from flowcast.errors import FlowcastUserError
from flowcast.models.roads.artifact import load_model, read_model_json
from flowcast.models.roads.forecaster import RoadForecaster

log = logging.getLogger("flowcast.model")


class ModelHolder:
    """Holds the road model of a model directory and reloads it when it changes."""

    def __init__(self, path: str | Path, *, bucket_s: int, metrics: Metrics | None = None,
                 check_every_s: float = 10.0, required: bool = True) -> None:
        """Load the model at ``path`` now. With ``required`` a model that cannot be loaded is a
        user error (exit 2 at start-up); without, the engine starts on its baselines."""
        self.path = Path(path)
        self.bucket_s = bucket_s
        self.metrics = metrics or Metrics()
        self.check_every_s = check_every_s
        self._model: RoadForecaster | None = None
        self._version: str | None = None
        self._checked = 0.0
        try:
            self._load()
        except FlowcastUserError:
            if required:
                raise
            log.warning("no usable model at %s yet; serving baselines", self.path)

    @property
    def version(self) -> str | None:
        """Version id of the model in service, or None."""
        return self._version

    def current(self) -> RoadForecaster | None:
        """The model to use for this cycle (checking the directory at most every
        ``check_every_s`` seconds)."""
        now = time.monotonic()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            self._reload_if_changed()
        return self._model

    def _reload_if_changed(self) -> None:
        try:
            version = str(read_model_json(self.path).get("version"))
        except FlowcastUserError as err:
            self._refuse(err)
            return
        if version != self._version:
            try:
                self._load()
            except FlowcastUserError as err:
                self._refuse(err)

    def _load(self) -> None:
        model = load_model(self.path, bucket_s=self.bucket_s, target="speed")
        if self._version is not None:  # the replaced version is no longer in service
            self.metrics.set("flowcast_model_info", 0, version=self._version)
        self._model = model
        self._version = model.version
        self._checked = time.monotonic()
        self.metrics.inc("flowcast_model_loads_total")
        self.metrics.set("flowcast_model_info", 1, version=model.version)
        log.info("serving model %s from %s", model.version, self.path)

    def _refuse(self, err: Exception) -> None:
        self.metrics.inc("flowcast_model_load_failures_total")
        log.warning("model at %s not loaded (%s); still serving %s", self.path, err,
                    self._version or "the baselines")
