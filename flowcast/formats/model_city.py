"""A model is bound to the city it was trained for: ``model.json`` records ``city`` =
``{"name", "ids_sha256"}``, the sha256 of the city's segment and sensor ids (sorted, so the
order of the city file does not matter). A model trained on another city learnt other roads:
:func:`check_model_city` refuses it, naming both cities. A model without the field (trained
before it existed, or on data without a city) is served, with a warning logged once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from flowcast.errors import FlowcastUserError

log = logging.getLogger("flowcast.model")

_WARNED: set[str] = set()  # model directories already warned about, this process


class CityIds(Protocol):
    """What binds a model to a city: its name and its segment and sensor ids."""

    @property
    def name(self) -> str: ...

    @property
    def segment_ids(self) -> Iterable[Any]: ...

    @property
    def sensor_ids(self) -> Iterable[Any]: ...


def city_hash(city: CityIds) -> str:
    """Hex sha256 of the city's sorted segment ids and sorted sensor ids."""
    ids = {"segments": sorted(str(s) for s in city.segment_ids),
           "sensors": sorted(str(s) for s in city.sensor_ids)}
    return hashlib.sha256(json.dumps(ids, separators=(",", ":")).encode("utf-8")).hexdigest()


def city_binding(city: CityIds) -> dict[str, str]:
    """``model.json``'s ``city`` field for a model trained on ``city``."""
    return {"name": str(city.name), "ids_sha256": city_hash(city)}


def check_model_city(path: Path, doc: dict[str, Any], city: CityIds, what: str,
                     error: type[FlowcastUserError] = FlowcastUserError) -> None:
    """Refuse (raise ``error``) the ``what`` model at ``path`` whose ``model.json`` ``doc``
    binds it to another city than ``city``; warn once when it binds it to none."""
    bound = doc.get("city")
    if bound is None:
        if str(path) not in _WARNED:
            _WARNED.add(str(path))
            log.warning("%s %s records no city (trained before models were bound to their "
                        "city); serving it for %s unchecked, re-train it to bind it", what,
                        path, city.name)
        return
    if not isinstance(bound, dict) or not isinstance(bound.get("ids_sha256"), str):
        raise error(f"{path / 'model.json'}: unusable city field {bound!r}; re-train the model")
    if bound["ids_sha256"] != city_hash(city):
        raise error(f"{what} {path} was trained for city {bound.get('name')!r}, this engine "
                    f"runs city {city.name!r} (their segment and sensor ids differ); train a "
                    f"model on {city.name}'s data")
