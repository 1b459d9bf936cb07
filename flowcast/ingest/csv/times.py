"""Times in imported CSVs: parse a time column to UTC, infer the regular grid, parse flags.

A time column may hold ``1/1/2015 0:00`` (M/D/YYYY H:MM, also with seconds), ``2015/1/1 0:00``,
ISO 8601 with or without a UTC offset, or epoch seconds / milliseconds. Times without an
offset are local times in the ``--timezone``; everything is stored as UTC. Each row's time
is the *start* of its bucket.

Errors name the CSV line; callers pass ``lines``, a function from 0-based row indices to file
line numbers (:func:`flowcast.ingest.csv.reader.record_lines`), only called on the error path.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowcast.errors import FlowcastUserError, ImportFileError

# Header names taken as the time column when --time-column is not given (lower case).
TIME_NAMES = ("time", "date", "datetime", "timestamp", "date_time", "time_stamp", "ts")
# Tried in order on the first time; the first that reads it is used for the whole column.
TIME_FORMATS = ("ISO8601", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y/%m/%d %H:%M",
                "%Y/%m/%d %H:%M:%S", "%m/%d/%Y", "%Y/%m/%d")
NS_PER_S = 1_000_000_000
# Largest epoch magnitude per unit, and ns per unit: seconds < 1e11 <= ms < 1e14 <= us ...
_EPOCH_UNITS = ((1e11, NS_PER_S), (1e14, 1_000_000), (1e17, 1_000), (np.inf, 1))
_EPOCH_MIN_S = 1e8  # 1973-03-03: smaller numbers are counters, not epoch times
_OFFSET = re.compile(r"\d:\d\d(?::\d\d(?:\.\d*)?)?\s*(?:[zZ]|UTC|[+-]\d\d(?::?\d\d)?)$")
# A grid this long that is mostly empty means a typo in a time, not real gaps.
_SPARSE_MIN_STEPS = 10_000
_SPARSE_MAX_EMPTY = 0.75

Lines = Callable[[Sequence[int]], list[int]]


@dataclass(frozen=True)
class TimeGrid:
    """A regular time axis: ``length`` buckets of ``step_s`` seconds from ``start_ns``.

    ``start_ns`` is epoch nanoseconds UTC of the first bucket start.
    """

    start_ns: int
    step_s: int
    length: int

    def index(self) -> pd.DatetimeIndex:
        """The bucket starts as a naive UTC ``DatetimeIndex`` (datetime64[ns])."""
        ns = self.start_ns + np.arange(self.length, dtype=np.int64) * self.step_s * NS_PER_S
        return pd.DatetimeIndex(ns.astype("datetime64[ns]"))


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA timezone, else raise a user error."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise FlowcastUserError(f"unknown timezone '{name}'; give an IANA name such as "
                                "Asia/Shanghai or UTC") from None
    return name


def parse_interval(text: str) -> int:
    """``--interval`` (``5min``, ``15min``, ``1h``, ``900s``, or bare seconds) in whole seconds."""
    raw = text.strip()
    try:
        delta = pd.Timedelta(int(raw), unit="s") if raw.isdigit() else pd.Timedelta(raw)
    except ValueError:
        delta = None
    if delta is None or pd.isna(delta) or delta <= pd.Timedelta(0) or delta.value % NS_PER_S:
        raise FlowcastUserError(f"--interval '{text}' is not a positive whole number of "
                                "seconds; write it like 5min, 15min, 1h or 900s")
    return int(delta.total_seconds())


def format_interval(seconds: int) -> str:
    """``900`` -> ``15min``; ``3600`` -> ``1h``; ``86400`` -> ``1d``; ``45`` -> ``45s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_start(text: str, timezone: str) -> int:
    """``--start`` (ISO 8601; local in ``timezone`` unless it has an offset) as epoch ns UTC."""
    try:
        stamp = pd.Timestamp(text.strip())
    except ValueError:
        stamp = None
    if stamp is None or pd.isna(stamp):
        raise FlowcastUserError(f"--start '{text}' is not a time; write it in ISO 8601, "
                                "like 2015-01-01T00:00 or 2015-01-01T00:00+08:00")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone)
    return int(stamp.tz_convert("UTC").as_unit("ns").value)


def parse_times(texts: pd.Series, *, timezone: str, time_format: str | None, lines: Lines,
                file: str) -> np.ndarray:
    """Parse a column of time strings to epoch ns UTC (int64, one per row).

    Only the distinct strings are parsed, so a long CSV with many rows per time stays cheap.
    Raises :class:`ImportFileError` naming the line of the first empty or unreadable time.
    """
    codes, uniques = pd.factorize(texts.astype(object), use_na_sentinel=True)
    if (codes < 0).any():
        (line,) = lines([int(np.argmax(codes < 0))])
        raise ImportFileError(f"{file}: line {line} has no time; every row needs one")
    strings = pd.Series(np.asarray(uniques, dtype=object)).str.strip()
    try:
        parsed = _parse_distinct(strings, timezone, time_format)
    except _BadTime as bad:
        found = lines([int(np.argmax(codes == u)) for u in bad.uniques])
        texts_of = [str(strings[u]) for u in bad.uniques]
        raise ImportFileError(f"{file}: line {found[0]}: {bad.render(texts_of, found)}") from None
    return parsed[codes]


def check_unique_times(ns: np.ndarray, texts: pd.Series, lines: Lines, file: str) -> None:
    """Raise if a time occurs twice (a wide CSV has one row per time)."""
    duplicated = pd.Series(ns).duplicated().to_numpy()
    if not duplicated.any():
        return
    row = int(np.argmax(duplicated))
    first = int(np.argmax(ns == ns[row]))
    line, first_line = lines([row, first])
    raise ImportFileError(f"{file}: line {line} repeats time '{str(texts.iloc[row]).strip()}' "
                          f"first seen on line {first_line}; each time may appear once")


def grid_from_times(ns: np.ndarray, texts: pd.Series, interval_s: int | None, lines: Lines,
                    file: str) -> tuple[TimeGrid, np.ndarray]:
    """The regular grid the times lie on, and each row's position on it (int64).

    The step is ``interval_s`` or else the most common gap between consecutive distinct times.
    Rows may be in any order and steps may be missing (they become NaN); a time off the grid
    is an error naming its line.
    """
    distinct = np.unique(ns)
    if interval_s is None:
        if len(distinct) < 2:
            raise ImportFileError(f"{file} has a single time; give --interval (e.g. 15min) "
                                  "so the bucket length is known")
        gaps, counts = np.unique(np.diff(distinct), return_counts=True)
        step = int(gaps[np.argmax(counts)])
        if step % NS_PER_S:
            raise ImportFileError(f"{file}: the times are mostly {step / NS_PER_S:g} s apart, "
                                  "not a whole number of seconds; flowcast buckets are whole "
                                  "seconds")
    else:
        step = interval_s * NS_PER_S
    start = int(distinct[0])
    off = (ns - start) % step != 0
    if off.any():
        row = int(np.flatnonzero(off)[np.argmin(ns[off])])
        first = int(np.argmin(ns))
        line, first_line = lines([row, first])
        raise ImportFileError(
            f"{file}: line {line}: time '{str(texts.iloc[row]).strip()}' is off the "
            f"{format_interval(step // NS_PER_S)} grid that starts at "
            f"'{str(texts.iloc[first]).strip()}' (line {first_line}); times must be regular "
            "(missing steps are fine), or give the step with --interval")
    positions = (ns - start) // step
    length = int(positions.max()) + 1
    if length >= _SPARSE_MIN_STEPS and 1 - len(distinct) / length > _SPARSE_MAX_EMPTY:
        gap_at = int(np.argmax(np.diff(distinct))) + 1
        row = int(np.argmax(ns == distinct[gap_at]))
        (line,) = lines([row])
        raise ImportFileError(
            f"{file}: line {line}: time '{str(texts.iloc[row]).strip()}' comes after a gap of "
            f"{format_interval(int(distinct[gap_at] - distinct[gap_at - 1]) // NS_PER_S)}, "
            f"which would leave {1 - len(distinct) / length:.0%} of the grid empty; check that "
            "time, or split the file")
    return TimeGrid(start, step // NS_PER_S, length), positions.astype(np.int64)


def looks_like_time(cell: str) -> bool:
    """True when ``cell`` is not a plain number and reads in one of :data:`TIME_FORMATS`."""
    text = cell.strip()
    if not text:
        return False
    try:
        float(text)
        return False
    except ValueError:
        pass
    return _detect_format(text) is not None


class _BadTime(Exception):
    """Distinct time strings (indices ``uniques``; the first is the culprit) that cannot be
    read; ``render(texts, lines)`` words the problem from their texts and line numbers."""

    def __init__(self, uniques: list[int], render: Callable[[list[str], list[int]], str]) -> None:
        super().__init__("unreadable time")
        self.uniques = uniques
        self.render = render


def _parse_distinct(strings: pd.Series, timezone: str, time_format: str | None) -> np.ndarray:
    numbers = pd.to_numeric(strings, errors="coerce")
    if time_format is None and numbers.notna().all():
        return _epoch_ns(numbers.to_numpy(dtype=np.float64))
    fmt = time_format or _detect_format(strings.iloc[0])
    if fmt is None:
        raise _BadTime([0], lambda t, _: f"cannot read time '{t[0]}'; use M/D/YYYY H:MM, "
                       "ISO 8601 or epoch seconds, or give --time-format")
    if fmt == "ISO8601":
        with_offset = strings.str.contains(_OFFSET).to_numpy()
        if with_offset.any() and not with_offset.all():
            odd = int(np.argmax(with_offset != with_offset[0]))
            has = "has a" if with_offset[odd] else "has no"
            raise _BadTime([odd, 0], lambda t, n: f"time '{t[0]}' {has} UTC offset, unlike "
                           f"'{t[1]}' on line {n[1]}; give every time an offset, or none")
        parsed = pd.to_datetime(strings, format=fmt, errors="coerce", utc=bool(with_offset.all()))
    else:
        try:
            parsed = pd.to_datetime(strings, format=fmt, errors="coerce")
        except ValueError as err:  # a --time-format that is not a format
            raise FlowcastUserError(f"--time-format '{fmt}' is not usable: {err}") from None
    bad = parsed.isna().to_numpy()
    if bad.any():
        example = f"like '{strings.iloc[0]}'" if not bad[0] else f"in the format {fmt}"
        raise _BadTime([int(np.argmax(bad))],
                       lambda t, _: f"cannot read time '{t[0]}'; expected a time {example}")
    return _to_utc_ns(pd.DatetimeIndex(parsed), timezone)


def _to_utc_ns(index: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    if index.tz is None:
        try:
            index = index.tz_localize(timezone, ambiguous="raise", nonexistent="raise")
        except (ValueError, TypeError):  # pytz/zoneinfo errors derive from these
            soft = index.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            odd = int(np.argmax(soft.isna()))
            raise _BadTime([odd], lambda t, _: f"local time '{t[0]}' is skipped or repeated "
                           f"in {timezone} (a daylight-saving change); give times with a UTC "
                           "offset, or --timezone UTC if they are UTC") from None
    return index.tz_convert("UTC").as_unit("ns").asi8.copy()


def _epoch_ns(values: np.ndarray) -> np.ndarray:
    magnitude = float(np.nanmax(np.abs(values)))
    ns_per_unit = next(size for limit, size in _EPOCH_UNITS if magnitude < limit)
    seconds = values * (ns_per_unit / NS_PER_S)
    if np.nanmin(seconds) < _EPOCH_MIN_S:
        raise _BadTime([int(np.argmin(seconds))], lambda t, _: f"time '{t[0]}' is a number but "
                       "not an epoch time (seconds or milliseconds since 1970, after 1973); "
                       "give real times, or drop the column and use --start and --interval")
    return np.round(values * ns_per_unit).astype(np.int64)


def _detect_format(text: str) -> str | None:
    for fmt in TIME_FORMATS:
        if not pd.isna(pd.to_datetime(pd.Series([text]), format=fmt, errors="coerce").iloc[0]):
            return fmt
    return None
