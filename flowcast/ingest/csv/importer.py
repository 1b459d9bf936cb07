"""``flowcast import``: a CSV of road-detector data (and an adjacency CSV) -> a flowcast dataset.

:func:`read_csv_dataset` reads and validates everything in memory and returns the dataset;
nothing is written until the caller saves it (atomically, with
:func:`flowcast.formats.dataset.save_dataset`), so a bad file never leaves a half-written
dataset behind. The layouts are described in :mod:`flowcast.ingest.csv.layouts`, the time
rules in :mod:`flowcast.ingest.csv.times`, the matrix in :mod:`flowcast.ingest.csv.adjacency`;
``docs/dataset-format.md`` is the user's guide.

Values are stored as read (after unit conversion): a 0 stays 0 unless ``zero_is_missing``,
and only empty cells, NA markers and missing time steps become NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flowcast.errors import FlowcastUserError, ImportFileError
from flowcast.formats.dataset import FlowDataset, make_series_dataset
from flowcast.ingest.csv.adjacency import read_adjacency
from flowcast.ingest.csv.layouts import is_header, read_layout
from flowcast.ingest.csv.options import (
    UNIT_FACTORS,
    ImportOptions,
    dataset_unit,
    resolve_units,
    to_dataset_units,
)
from flowcast.ingest.csv.reader import sniff_csv
from flowcast.ingest.csv.times import TimeGrid, check_timezone, format_interval, parse_interval

_OCCUPANCY_SLACK = 1e-6  # rounding in the source may put a full detector a hair above 1


@dataclass(frozen=True)
class VariableStats:
    """One imported variable: dataset ``unit``, the ``source_unit`` it was read in, the share
    of grid cells that are NaN, and the share of non-NaN cells (before the zero rule) that
    were exactly 0."""

    name: str
    unit: str
    source_unit: str
    missing: float
    zeros: float


@dataclass
class ImportResult:
    """The imported dataset and what a summary reports about it."""

    dataset: FlowDataset
    csv: Path
    layout: str
    rows: int
    sensors: int
    grid: TimeGrid
    timezone: str
    zero_is_missing: bool
    variables: list[VariableStats]
    adjacency: Path | None = None
    edges: int | None = None
    ignored: list[str] = field(default_factory=list)
    title: str | None = None


def read_csv_dataset(path: str | Path, options: ImportOptions) -> ImportResult:
    """Read the CSV at ``path`` as ``options`` say and build the dataset (not saved).

    Raises a :class:`~flowcast.errors.FlowcastUserError` with a one-line message, naming the
    CSV line where there is one, for any problem with the files or the options.
    """
    path = Path(path)
    _check_options(options)
    head = sniff_csv(path, options.header, is_header)
    series = read_layout(head, options)
    names = list(series.variables)
    units = resolve_units(names, options.units)
    stats = [_prepare(name, series.variables[name], units[name], options.zero_is_missing)
             for name in names]
    graph = None
    if options.adjacency is not None:
        graph = read_adjacency(options.adjacency, series.ids)
    source = f"flowcast import {path.name}" + (
        f" --adjacency {options.adjacency.name}" if options.adjacency else "")
    roads = make_series_dataset(
        "sensor", series.ids, series.grid.index(), series.variables,
        {name: dataset_unit(name) for name in names}, interval_s=series.grid.step_s,
        timezone=options.timezone, source=source, graph=graph)
    if options.title:
        roads.attrs["title"] = options.title
    return ImportResult(
        dataset=FlowDataset(roads=roads), csv=path, layout=series.layout, rows=series.rows,
        sensors=len(series.ids), grid=series.grid, timezone=options.timezone,
        zero_is_missing=options.zero_is_missing, variables=stats, adjacency=options.adjacency,
        edges=None if graph is None else len(graph[1]), ignored=series.ignored,
        title=options.title)


def format_summary(result: ImportResult, out: str | Path) -> str:
    """A few lines for the terminal: what was imported, where to, and how complete it is."""
    grid = result.grid
    index = grid.index()
    first, last = index[0].tz_localize("UTC"), index[-1].tz_localize("UTC")
    local = f"{first.tz_convert(result.timezone):%Y-%m-%d %H:%M} .. " \
            f"{last.tz_convert(result.timezone):%Y-%m-%d %H:%M} {result.timezone}"
    utc = f"{first:%Y-%m-%dT%H:%MZ} .. {last:%Y-%m-%dT%H:%MZ}"
    lines = [
        f"imported {result.csv.name} ({result.layout} layout, {result.rows} rows) -> {out}",
        *([f"  title       {result.title}"] if result.title else []),
        f"  sensors     {result.sensors}",
        f"  time steps  {grid.length} x {format_interval(grid.step_s)} ({grid.step_s} s)",
        f"  span        {local} ({utc})",
    ]
    zero_rule = "stored as missing" if result.zero_is_missing else "kept as values"
    for var in result.variables:
        unit = "fraction 0..1" if var.unit == "1" else var.unit
        if UNIT_FACTORS[var.name][var.source_unit] != 1.0:
            unit += f" (converted from {var.source_unit})"
        lines.append(f"  {var.name:<11} {unit}; missing {var.missing:.1%}; "
                     f"zeros {var.zeros:.1%} ({zero_rule})")
    if result.edges is not None and result.adjacency is not None:
        lines.append(f"  graph       {result.edges} directed edges from {result.adjacency.name}")
    else:
        lines.append("  graph       none (give --adjacency to add one)")
    if result.ignored:
        lines.append(f"  ignored     columns {', '.join(result.ignored)}")
    return "\n".join(lines)


def _check_options(options: ImportOptions) -> None:
    """Refuse bad flags before reading a possibly large file."""
    check_timezone(options.timezone)
    if options.interval:
        parse_interval(options.interval)
    if options.variable is not None and options.variable not in UNIT_FACTORS:
        raise FlowcastUserError(f"--variable {options.variable} is not a road variable; use "
                                f"one of {', '.join(UNIT_FACTORS)}")
    adjacency = options.adjacency
    if adjacency is not None and not adjacency.is_file():
        raise ImportFileError(f"adjacency {adjacency} does not exist or is not a file; check "
                              "the --adjacency path")


def _prepare(name: str, values: np.ndarray, unit: str, zero_is_missing: bool) -> VariableStats:
    """Convert ``values`` in place to the dataset unit, apply the zero rule, and measure."""
    to_dataset_units(name, values, unit)
    present = ~np.isnan(values)
    n_present = int(present.sum())
    zeros = values == 0
    zero_share = float(zeros.sum()) / n_present if n_present else 0.0
    if name == "occupancy" and n_present:
        top = float(np.nanmax(values))
        if top > 1 + _OCCUPANCY_SLACK:
            raise FlowcastUserError(
                f"occupancy goes up to {top:g} read as {unit}, but it must be a fraction "
                "0..1; if the CSV holds percent, add --units percent")
    if zero_is_missing:
        values[zeros] = np.nan
    missing = float(np.isnan(values).mean()) if values.size else 0.0
    return VariableStats(name, dataset_unit(name), unit, missing, zero_share)
