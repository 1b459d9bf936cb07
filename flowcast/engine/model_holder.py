"""The live model of every kind: loaded from a model directory, swapped in when a new version
lands there.

The engine asks :meth:`ModelHolder.current` once per forecast cycle. Every ``check_every_s`` the
holder reads the directory's ``model.json``; when its version id changes it loads the new model
and swaps it in. A model that fails to load (half-copied, incompatible, corrupt) is refused with
a log line and a metric, and the previous one keeps serving; so is a version whose boosters fail
their probe in a child process (a damaged booster never reaches the engine's process) or that
was trained for another city than the one served; with none loaded the engine serves
its baselines. A refused version is remembered, so it is not retried (nor logged again) until
the directory holds another one. A model written later into an empty or missing directory is
picked up the same way, without a restart.

One holder serves every kind, parametrised by a :class:`ModelKind` (how to load it, what to call
it): :meth:`ModelHolder.roads` (``MODEL_DIR``) and :meth:`ModelHolder.spots`
(``MODEL_DIR/spots``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from flowcast.engine.metrics import Metrics
from flowcast.errors import FlowcastUserError
from flowcast.formats.model_city import CityIds
from flowcast.formats.model_dir import MODEL_FILE
from flowcast.models.forecaster import Forecaster
from flowcast.models.roads.artifact import load_model, read_model_json
from flowcast.models.roads.forecaster import RoadForecaster
from flowcast.models.spots.artifact import load_spot_model, read_spot_model_json
from flowcast.models.spots.forecaster import SpotForecaster

log = logging.getLogger("flowcast.model")

M = TypeVar("M", bound=Forecaster)


@dataclass(frozen=True)
class ModelKind(Generic[M]):
    """How a holder loads one kind of model: ``load(path)`` the checked model (raising a
    ``FlowcastUserError`` for one it cannot serve), ``read_version(path)`` the version id of
    the directory's ``model.json``; ``label`` names it in log lines ("model", "spot model"),
    ``metric`` prefixes its metrics (``<metric>_loads_total``, ``<metric>_load_failures_total``,
    ``<metric>_info``) and ``fallback`` says what serves without one."""

    load: Callable[[Path], M]
    read_version: Callable[[Path], str]
    label: str
    metric: str
    fallback: str


class ModelHolder(Generic[M]):
    """Holds the model of a directory and reloads it when its version changes."""

    def __init__(self, path: str | Path, kind: ModelKind[M], *, metrics: Metrics | None = None,
                 check_every_s: float = 10.0, required: bool = False) -> None:
        """Load the model at ``path`` now. With ``required`` a model that cannot be loaded is a
        user error (exit 2 at start-up); without, the engine starts on its baselines and keeps
        looking."""
        self.path = Path(path)
        self.kind = kind
        self.metrics = metrics or Metrics()
        self.check_every_s = check_every_s
        self._model: M | None = None
        self._version: str | None = None
        self._refused: str | None = None  # version last refused, so it is not retried
        self._checked = time.monotonic()
        label = kind.label[0].upper() + kind.label[1:]
        self.metrics.describe(f"{kind.metric}_loads_total",
                              f"{label} versions loaded into service; unit: loads")
        self.metrics.describe(f"{kind.metric}_load_failures_total",
                              f"{label} versions refused (the previous one kept serving); "
                              "unit: versions")
        self.metrics.describe(f"{kind.metric}_info",
                              f"{label} version, by label: 1 for the one in service, 0 for "
                              "one it replaced; unit: 1 or 0")
        if required:
            self._load()
        elif not (self.path / MODEL_FILE).is_file():
            log.info("no %s at %s yet; serving %s", kind.label, self.path, kind.fallback)
        else:
            self._reload_if_changed()

    @classmethod
    def roads(cls, path: str | Path, *, bucket_s: int, metrics: Metrics | None = None,
              check_every_s: float = 10.0, required: bool = True, city: CityIds | None = None
              ) -> ModelHolder[RoadForecaster]:
        """The holder of the road (speed) model of ``bucket_s`` buckets at ``path``; with
        ``city`` (the city served) a model trained for another city is refused."""
        kind = ModelKind[RoadForecaster](
            lambda p: load_model(p, bucket_s=bucket_s, target="speed", city=city),
            lambda p: str(read_model_json(p).get("version")), "model", "flowcast_model",
            "the baselines")
        return ModelHolder(path, kind, metrics=metrics, check_every_s=check_every_s,
                           required=required)

    @classmethod
    def spots(cls, path: str | Path, *, bucket_s: int, horizons: Sequence[int],
              metrics: Metrics | None = None, check_every_s: float = 10.0,
              city: CityIds | None = None) -> ModelHolder[SpotForecaster]:
        """The holder of the spot model at ``path`` (``MODEL_DIR/spots``); ``bucket_s`` and
        ``horizons`` (buckets) are what the engine serves, a model for others is refused, and
        with ``city`` one trained for another city."""
        wanted = tuple(int(h) for h in horizons)
        kind = ModelKind[SpotForecaster](
            lambda p: load_spot_model(p, bucket_s=int(bucket_s), horizons=wanted, city=city),
            lambda p: str(read_spot_model_json(p).get("version")), "spot model",
            "flowcast_spot_model", "the seasonal-naive baseline")
        return ModelHolder(path, kind, metrics=metrics, check_every_s=check_every_s)

    @property
    def version(self) -> str | None:
        """Version id of the model in service, or None."""
        return self._version

    def current(self) -> M | None:
        """The model for this cycle (looking at the directory at most every ``check_every_s``
        seconds), or None: serve the baselines."""
        now = time.monotonic()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            self._reload_if_changed()
        return self._model

    def _reload_if_changed(self) -> None:
        if not (self.path / MODEL_FILE).is_file():
            return  # nothing (yet, or any more): keep what serves
        try:
            version = self.kind.read_version(self.path)
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
        model = self.kind.load(self.path)
        metric = self.kind.metric
        if self._version is not None:  # the replaced version is no longer in service
            self.metrics.set(f"{metric}_info", 0, version=self._version)
        self._model = model
        self._version = model.version
        self._refused = None
        self.metrics.inc(f"{metric}_loads_total")
        self.metrics.set(f"{metric}_info", 1, version=model.version)
        log.info("serving %s %s from %s", self.kind.label, model.version, self.path)

    def _refuse(self, err: Exception, version: str | None) -> None:
        self._refused = version
        self.metrics.inc(f"{self.kind.metric}_load_failures_total")
        log.warning("%s at %s not loaded (%s); still serving %s", self.kind.label, self.path,
                    err, self._version or self.kind.fallback)


RoadModelHolder = ModelHolder[RoadForecaster]
"""The holder of a road model (:meth:`ModelHolder.roads`), for annotations."""
SpotModelHolder = ModelHolder[SpotForecaster]
"""The holder of a spot model (:meth:`ModelHolder.spots`), for annotations."""
