"""What ``flowcast import`` was asked to do, and the unit conversions it knows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from flowcast.errors import FlowcastUserError
from flowcast.formats.dataset import ROAD_VARIABLES

Layout = Literal["auto", "wide", "long"]

# variable -> {unit as written on the command line: factor to the dataset unit}.
# The first unit of each variable is its default (the unit the CSV is assumed to be in).
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "speed": {"km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "m/s": 3.6},
    "flow": {"vehicles": 1.0, "veh": 1.0},
    "occupancy": {"fraction": 1.0, "1": 1.0, "percent": 0.01, "%": 0.01},
}
# Header names of long-layout value columns that mean a known variable (lower case).
VARIABLE_ALIASES: dict[str, str] = {
    "speed": "speed", "speed_kmh": "speed", "flow": "flow", "volume": "flow",
    "occupancy": "occupancy", "occ": "occupancy",
}


@dataclass(frozen=True)
class ImportOptions:
    """The options of ``flowcast import`` (see ``docs/dataset-format.md``).

    ``variable`` None means speed for a wide CSV and every known variable column for a long
    one; ``units`` holds ``UNIT`` or ``VARIABLE=UNIT`` strings; ``interval`` and ``start`` are
    the raw flag texts (``15min``, ISO 8601); ``header`` None means detect; ``title`` names the
    data for people (the dataset's ``title`` attribute, the reports' title).
    """

    layout: Layout = "auto"
    header: bool | None = None
    time_column: str | None = None
    time_format: str | None = None
    sensor_column: str | None = None
    value_column: str | None = None
    variable: str | None = None
    units: tuple[str, ...] = ()
    start: str | None = None
    interval: str | None = None
    timezone: str = "Asia/Shanghai"
    zero_is_missing: bool = False
    adjacency: Path | None = None
    title: str | None = None
    progress: bool = False


def resolve_units(variables: list[str], requested: tuple[str, ...]) -> dict[str, str]:
    """The source unit of each imported variable: its default unless ``requested`` says
    otherwise. ``UNIT`` applies to every variable that has such a unit (``mph`` -> speed,
    ``percent`` -> occupancy); ``VARIABLE=UNIT`` to that variable only."""
    units = {name: next(iter(UNIT_FACTORS[name])) for name in variables}
    for item in requested:
        name, _, unit = item.rpartition("=") if "=" in item else ("", "", item)
        name, unit = name.strip(), unit.strip()
        targets = [name] if name else [v for v in variables if unit in UNIT_FACTORS[v]]
        if name and name not in variables:
            raise FlowcastUserError(f"--units {item}: '{name}' is not imported here (imported: "
                                    f"{', '.join(variables)})")
        if not targets or any(unit not in UNIT_FACTORS[t] for t in targets):
            known = "; ".join(f"{v}: {', '.join(UNIT_FACTORS[v])}" for v in variables)
            raise FlowcastUserError(f"--units {item} does not fit the imported variables; "
                                    f"known units are {known}")
        units.update(dict.fromkeys(targets, unit))
    return units


def to_dataset_units(name: str, values: np.ndarray, unit: str) -> np.ndarray:
    """Convert ``values`` (any shape, in ``unit``) in place to the dataset unit of ``name``
    (:data:`flowcast.formats.dataset.ROAD_VARIABLES`) and return them."""
    factor = UNIT_FACTORS[name][unit]
    if factor != 1.0:
        values *= np.float32(factor)
    return values


def dataset_unit(name: str) -> str:
    """The unit a road variable is stored in (``km/h``, ``vehicles``, ``1``)."""
    return ROAD_VARIABLES[name]
