"""The two CSV layouts ``flowcast import`` reads, each turned into sensor x time arrays.

wide
    one column per sensor, one row per time: with a time column, or without one (the T-GCN
    files; then ``--start`` and ``--interval`` place the rows), with a header row of sensor
    ids or none (then the sensor ids are the column numbers 0, 1, ...).
long
    one row per (sensor, time): a sensor column, a time column and one or more value
    columns (``speed``, ``flow``, ``occupancy``, or ``--value-column``). Sensors are kept in
    the order they first appear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flowcast.errors import FlowcastUserError, ImportFileError
from flowcast.ingest.csv.options import VARIABLE_ALIASES, ImportOptions
from flowcast.ingest.csv.reader import CsvHead, is_missing, is_number, read_table, record_lines
from flowcast.ingest.csv.times import (
    TIME_NAMES,
    Lines,
    TimeGrid,
    check_unique_times,
    grid_from_times,
    looks_like_time,
    parse_interval,
    parse_start,
    parse_times,
)

# Header names taken as the long layout's sensor column (lower case).
SENSOR_NAMES = ("sensor", "sensor_id", "sensorid", "detector", "detector_id", "station",
                "station_id", "road", "road_id", "segment", "segment_id", "link", "link_id")
VALUE_NAME = "value"


@dataclass
class Series:
    """Imported series before units and the zero rule: ``variables`` maps a variable name to
    float32 ``(len(ids), grid.length)`` values in the CSV's units, NaN where nothing was read."""

    ids: list[str]
    grid: TimeGrid
    variables: dict[str, np.ndarray]
    layout: str
    rows: int
    ignored: list[str] = field(default_factory=list)


def is_header(first: list[str], second: list[str] | None) -> bool:
    """Whether the first record of a CSV is a header row (heuristic; ``--header`` overrides).

    A header when a cell is a word (neither number, time nor missing marker), when it starts
    with an empty cell above a time (an unnamed index column), or when it is all whole numbers
    above a row of decimals (numeric sensor ids over speeds, as in the T-GCN files).
    """
    cells = [c.strip() for c in first]
    if any(c and not is_number(c) and not is_missing(c) and not looks_like_time(c)
           for c in cells):
        return True
    if second is None:
        return False
    if cells and not cells[0] and second and looks_like_time(second[0]):
        return True
    filled = [c for c in cells if c]
    return bool(filled) and all(_is_whole(c) for c in filled) and any(
        is_number(c) and not _is_whole(c) for c in second)


def read_layout(head: CsvHead, options: ImportOptions) -> Series:
    """Read ``head.path`` in the layout ``options.layout`` asks for (or detected)."""
    layout = options.layout
    if layout == "auto":
        wants_long = options.sensor_column is not None or options.value_column is not None
        layout = "long" if wants_long or _find_sensor_column(head, None) is not None else "wide"
    return read_long(head, options) if layout == "long" else read_wide(head, options)


def read_wide(head: CsvHead, options: ImportOptions) -> Series:
    """Read a wide CSV (one column per sensor) into a :class:`Series` of one variable."""
    file = head.path.name
    time_col = find_time_column(head, options.time_column, required=False)
    value_cols = [i for i in range(head.ncols) if i != time_col]
    if not value_cols:
        raise ImportFileError(f"{file} has a time column but no sensor columns")
    ids = _wide_sensor_ids(head, value_cols)
    interval_s = parse_interval(options.interval) if options.interval else None
    start_ns = _check_start(head, time_col, options)
    table = read_table(head, floats=value_cols, strings=[] if time_col is None else [time_col],
                       progress=options.progress)
    rows = table.num_rows
    if time_col is None:
        assert interval_s is not None and start_ns is not None  # checked by _check_start
        grid, positions = TimeGrid(start_ns, interval_s, rows), np.arange(rows)
    else:
        texts = table.column(f"c{time_col}").to_pandas()
        lines = _locator(head)
        ns = parse_times(texts, timezone=options.timezone, time_format=options.time_format,
                         lines=lines, file=file)
        check_unique_times(ns, texts, lines, file)
        grid, positions = grid_from_times(ns, texts, interval_s, lines, file)
    values = np.full((len(ids), grid.length), np.nan, dtype=np.float32)
    for row, col in enumerate(value_cols):
        values[row, positions] = _floats(table.column(f"c{col}"))
    variable = options.variable or "speed"
    return Series(ids, grid, {variable: values}, "wide", rows)


def read_long(head: CsvHead, options: ImportOptions) -> Series:
    """Read a long CSV (sensor, time, values) into a :class:`Series` of its known variables."""
    file = head.path.name
    if head.header is None:
        raise ImportFileError(f"{file} has no header row; the long layout needs one naming the "
                              "sensor, time and value columns")
    sensor_col = _find_sensor_column(head, options.sensor_column)
    if sensor_col is None:
        raise ImportFileError(f"{file} has no sensor column (looked for "
                              f"{', '.join(SENSOR_NAMES[:4])}, ...); name it with --sensor-column")
    time_col = find_time_column(head, options.time_column, required=True)
    assert time_col is not None
    value_cols = _long_value_columns(head, options, exclude={sensor_col, time_col})
    table = read_table(head, floats=list(value_cols.values()), strings=[sensor_col, time_col],
                       progress=options.progress)
    lines = _locator(head)
    sensors = pc.utf8_trim_whitespace(table.column(f"c{sensor_col}")).to_pandas()
    if sensors.isna().any():
        (line,) = lines([int(np.argmax(sensors.isna().to_numpy()))])
        raise ImportFileError(f"{file}: line {line} has no sensor id; every row needs one")
    codes, ids = _factorize(sensors.to_numpy(dtype=object))
    texts = table.column(f"c{time_col}").to_pandas()
    ns = parse_times(texts, timezone=options.timezone, time_format=options.time_format,
                     lines=lines, file=file)
    _check_unique_cells(codes, ns, ids, texts, lines, file)
    interval_s = parse_interval(options.interval) if options.interval else None
    grid, positions = grid_from_times(ns, texts, interval_s, lines, file)
    variables: dict[str, np.ndarray] = {}
    for name, col in value_cols.items():
        values = np.full((len(ids), grid.length), np.nan, dtype=np.float32)
        values[codes, positions] = _floats(table.column(f"c{col}"))
        variables[name] = values
    used = {sensor_col, time_col, *value_cols.values()}
    ignored = [head.header[i] for i in range(head.ncols) if i not in used]
    return Series(list(ids), grid, variables, "long", table.num_rows, ignored)


def find_time_column(head: CsvHead, requested: str | None, *, required: bool) -> int | None:
    """Index of the time column: ``requested`` by name (or 1-based number without a header),
    else a column named like :data:`TIME_NAMES`, else a first column that is unnamed or
    holds times. None when there is none and it is not ``required``."""
    if requested is not None:
        return _column_by_name(head, requested, "--time-column")
    names = [n.lower() for n in head.header] if head.header is not None else []
    for candidate in TIME_NAMES:
        if candidate in names:
            return names.index(candidate)
    first_cell = head.first_rows[0][0] if head.first_rows and head.first_rows[0] else ""
    if (head.header is not None and head.ncols > 1 and not head.header[0]) or looks_like_time(
            first_cell):
        return 0
    if required:
        raise ImportFileError(f"{head.path.name} has no time column (looked for "
                              f"{', '.join(TIME_NAMES)}); name it with --time-column")
    return None


def _check_start(head: CsvHead, time_col: int | None, options: ImportOptions) -> int | None:
    """Epoch ns of ``--start`` for a CSV without a time column; refuse it for one with."""
    file = head.path.name
    if time_col is not None:
        if options.start:
            raise FlowcastUserError(f"{file} has a time column ({head.column_label(time_col)}); "
                                    "drop --start, the times come from that column")
        return None
    missing = [flag for flag, value in (("--start", options.start),
                                        ("--interval", options.interval)) if not value]
    if missing:
        raise FlowcastUserError(
            f"{file} has no time column; give {' and '.join(missing)} to place its rows in "
            "time (e.g. --start 2015-01-01T00:00 --interval 15min), or name the column with "
            "--time-column")
    assert options.start is not None
    return parse_start(options.start, options.timezone)


def _wide_sensor_ids(head: CsvHead, value_cols: list[int]) -> list[str]:
    if head.header is None:
        return [str(i) for i in range(len(value_cols))]
    ids = [head.header[i] for i in value_cols]
    seen: dict[str, int] = {}
    for col, name in zip(value_cols, ids, strict=True):
        if not name:
            raise ImportFileError(f"{head.path.name}: line 1, column {col + 1} has no sensor id; "
                                  "name every sensor column in the header")
        if name in seen:
            raise ImportFileError(f"{head.path.name}: line 1: sensor column '{name}' appears "
                                  f"twice (columns {seen[name] + 1} and {col + 1}); sensor ids "
                                  "must be unique")
        seen[name] = col
    return ids


def _find_sensor_column(head: CsvHead, requested: str | None) -> int | None:
    if requested is not None:
        return _column_by_name(head, requested, "--sensor-column")
    if head.header is None:
        return None
    names = [n.lower() for n in head.header]
    return next((names.index(n) for n in SENSOR_NAMES if n in names), None)


def _long_value_columns(head: CsvHead, options: ImportOptions,
                        exclude: set[int]) -> dict[str, int]:
    """Variable name -> column index of the value columns of a long CSV."""
    assert head.header is not None
    if options.value_column is not None:
        col = _column_by_name(head, options.value_column, "--value-column")
        name = options.variable or VARIABLE_ALIASES.get(head.header[col].lower(), "speed")
        return {name: col}
    lowered = [h.lower() for h in head.header]
    found: dict[str, int] = {}
    for col, header in enumerate(lowered):
        name = VARIABLE_ALIASES.get(header)
        if col not in exclude and name is not None and name not in found:
            found[name] = col
    generic = lowered.index(VALUE_NAME) if VALUE_NAME in lowered else None
    if options.variable is not None:
        if options.variable in found:
            return {options.variable: found[options.variable]}
        if generic is not None:
            return {options.variable: generic}
        raise ImportFileError(f"{head.path.name} has no '{options.variable}' column; name the "
                              "column to read with --value-column")
    if not found and generic is not None:
        found["speed"] = generic
    if not found:
        raise ImportFileError(f"{head.path.name} has no value column (speed, flow, occupancy "
                              "or value); name it with --value-column and --variable")
    return found


def _column_by_name(head: CsvHead, name: str, flag: str) -> int:
    """Index of the column called ``name`` (exact, then ignoring case; or 1-based number
    when the CSV has no header)."""
    if head.header is None:
        if name.isdigit() and 1 <= int(name) <= head.ncols:
            return int(name) - 1
        raise FlowcastUserError(f"{flag} {name}: {head.path.name} has no header row, so give "
                                f"the column's number (1 to {head.ncols})")
    if name in head.header:
        return head.header.index(name)
    lowered = [h.lower() for h in head.header]
    if name.lower() in lowered:
        return lowered.index(name.lower())
    shown = ", ".join(head.header[:8]) + (", ..." if head.ncols > 8 else "")
    raise FlowcastUserError(f"{flag} {name}: no such column in {head.path.name} "
                            f"(columns: {shown})")


def _check_unique_cells(codes: np.ndarray, ns: np.ndarray, ids: np.ndarray,
                        texts: pd.Series, lines: Lines, file: str) -> None:
    """Raise if a (sensor, time) pair occurs twice in a long CSV."""
    time_codes, distinct = pd.factorize(ns)
    keys = codes * len(distinct) + time_codes
    order = np.argsort(keys, kind="stable")
    repeats = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if not len(repeats):
        return
    dup_rows = order[repeats + 1]
    row = int(dup_rows.min())
    first = int(np.argmax(keys == keys[row]))
    line, first_line = lines([row, first])
    time_text = str(texts.iloc[row]).strip()
    raise ImportFileError(f"{file}: line {line} repeats sensor '{ids[codes[row]]}' at time "
                          f"'{time_text}' first seen on line {first_line}; each sensor may "
                          "have one row per time")


def _locator(head: CsvHead) -> Lines:
    """Data-row indices -> file lines, by scanning the file (only used to word errors)."""
    return partial(record_lines, head)


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and distinct values, in order of first appearance."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object).astype(str)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    """A float64 column as numpy with nulls as NaN."""
    return column.to_numpy(zero_copy_only=False)


def _is_whole(cell: str) -> bool:
    text = cell.strip().lstrip("+-")
    return text.isdigit()
