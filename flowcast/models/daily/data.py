"""Daily arrivals of a scenic spot: read a CSV into a clean daily series, and check one.

A *daily series* is a ``pandas.Series`` of float64 visitor counts (arrivals per local day)
indexed by a gap-free, strictly increasing ``DatetimeIndex`` of local calendar dates (midnight,
no time zone, frequency ``"D"``). Missing days are NaN, never 0; a 0 is a real closed day unless
the reader is told that zeros mean "no data" (``zero_is_missing``). The series' ``name`` is the
spot id. Every forecaster in :mod:`flowcast.models.daily.forecaster` takes this shape.

The CSVs of ``shared/data/scenic-spots-jiuzhaigou-hawaii`` (one row per day, a ``date`` column
written ``2020/4/1``, a ``tourist`` column, a ``destination`` id) read as they are.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from flowcast.errors import FlowcastUserError

MIN_DAYS = 14  # a shorter series has too little history for any daily forecast
DATE_COLUMNS = ("date", "Date", "day", "ds")
VALUE_COLUMNS = ("tourist", "arrivals", "visitors", "count", "y")
ID_COLUMNS = ("destination", "spot", "series")


class DailyDataError(FlowcastUserError, ValueError):
    """A daily-arrivals file or series that cannot be used; the message says what to change."""


def read_daily_csv(path: str | os.PathLike[str], *, date_column: str | None = None,
                   value_column: str | None = None, series_id: str | None = None,
                   zero_is_missing: bool = False) -> pd.Series:
    """Read a daily-arrivals CSV (one row per local day) into a clean daily series.

    ``date_column`` / ``value_column`` default to the first present of :data:`DATE_COLUMNS` /
    :data:`VALUE_COLUMNS`; dates may be ``2020/4/1`` or ISO ``2020-04-01``. ``series_id`` defaults
    to the file's ``destination`` (or ``spot``) value, else the file name. Days absent from the
    file become NaN. Raises :class:`DailyDataError` naming the line or column for a missing file,
    an unknown column, an unreadable date or count (with its CSV line number), a negative count,
    a repeated date, or fewer than :data:`MIN_DAYS` days.
    """
    path = Path(path)
    if not path.is_file():
        raise DailyDataError(f"{path} does not exist; give the path of a daily-arrivals CSV")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                            encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DailyDataError(f"{path} is not a readable CSV ({err}); give a comma-separated "
                             "file with a header line") from err
    table.columns = [str(c).strip() for c in table.columns]
    date_col = _column(table, date_column, DATE_COLUMNS, "date", path)
    value_col = _column(table, value_column, VALUE_COLUMNS, "arrivals", path)
    dates = _parse_dates(table[date_col], date_col, path)
    values = _parse_counts(table[value_col], value_col, path)
    name = series_id or _series_id(table, path)
    series = pd.Series(values, index=pd.DatetimeIndex(dates), name=name)
    if zero_is_missing:
        series = series.where(series != 0)
    return check_daily_series(series, source=str(path))


def check_daily_series(series: pd.Series, *, source: str = "the series") -> pd.Series:
    """Check an in-memory daily series and return a clean copy (see the module docstring).

    Accepts naive or tz-aware timestamps at local midnight (a time zone is dropped: the dates
    are taken as local). Missing days are inserted as NaN. Raises :class:`DailyDataError` for a
    non-Series, a non-date index, a time of day other than midnight, repeated dates, non-numeric
    or negative or infinite values, or fewer than :data:`MIN_DAYS` days.
    """
    if not isinstance(series, pd.Series):
        raise DailyDataError(f"{source} must be a pandas Series of daily counts, "
                             f"not {type(series).__name__}")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise DailyDataError(f"{source} must be indexed by dates (a DatetimeIndex), not "
                             f"{type(series.index).__name__}")
    if not ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series):
        raise DailyDataError(f"{source} must hold numbers (visitors per day), not {series.dtype}")
    index = series.index.tz_localize(None) if series.index.tz is not None else series.index
    if index.hasnans:
        raise DailyDataError(f"{source} has a missing date (NaT); every row needs its day")
    if (index != index.normalize()).any():
        first = index[np.argmax(index != index.normalize())]
        raise DailyDataError(f"{source} has a time of day ({first}); daily arrivals are one "
                             "value per calendar day, dated at midnight")
    if index.has_duplicates:
        raise DailyDataError(f"{source} repeats the date {index[index.duplicated()][0].date()}; "
                             "give one row per day")
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    _check_values(values, [str(d.date()) for d in index], source)
    clean = pd.Series(values, index=index, name=series.name).sort_index()
    full = pd.date_range(clean.index[0], clean.index[-1], freq="D") if len(clean) else clean.index
    clean = clean.reindex(full)
    if int(clean.notna().sum()) < MIN_DAYS:
        raise DailyDataError(f"{source} has {int(clean.notna().sum())} days with a count; "
                             f"a daily forecast needs at least {MIN_DAYS}")
    clean.index.name = "date"
    return clean.astype(np.float64)


def data_hash(series: pd.Series) -> str:
    """``"sha256:<hex>"`` of a daily series' dates and values (NaN included): the identity of
    the data a model was trained on."""
    digest = hashlib.sha256()
    digest.update(np.asarray(series.index.values, dtype="datetime64[D]").astype(np.int64)
                  .tobytes())
    digest.update(np.ascontiguousarray(series.to_numpy(np.float64)).tobytes())
    return f"sha256:{digest.hexdigest()}"


def _column(table: pd.DataFrame, wanted: str | None, defaults: tuple[str, ...], what: str,
            path: Path) -> str:
    """The column to read: ``wanted`` if given, else the first of ``defaults`` present."""
    have = ", ".join(table.columns) or "none"
    if wanted is not None:
        if wanted not in table.columns:
            raise DailyDataError(f"{path} has no column {wanted!r} (columns: {have})")
        return wanted
    for name in defaults:
        if name in table.columns:
            return name
    raise DailyDataError(f"{path} has no {what} column: expected one of "
                         f"{', '.join(defaults)} (columns: {have}); name it with "
                         f"{'date_column' if what == 'date' else 'value_column'}=")


def _parse_dates(col: pd.Series, name: str, path: Path) -> np.ndarray:
    """Dates as datetime64[ns] at midnight; the message names the first bad CSV line."""
    text = col.str.strip()
    parsed = pd.to_datetime(text.str.replace("/", "-", regex=False), format="%Y-%m-%d",
                            errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        line = int(np.argmax(bad)) + 2  # header is line 1
        raise DailyDataError(f"{path} line {line}: {name} {text.iloc[line - 2]!r} is not a date; "
                             "write dates as 2021-06-15 or 2021/6/15")
    return parsed.to_numpy()


def _parse_counts(col: pd.Series, name: str, path: Path) -> np.ndarray:
    """Counts as float64 (empty = NaN); the message names the first bad CSV line."""
    text = col.str.strip()
    empty = text.isin(["", "NA", "NaN", "nan", "null"]).to_numpy()
    values = pd.to_numeric(text.where(~empty), errors="coerce").to_numpy(np.float64)
    bad = np.isnan(values) & ~empty
    if bad.any():
        line = int(np.argmax(bad)) + 2
        raise DailyDataError(f"{path} line {line}: {name} {text.iloc[line - 2]!r} is not a "
                             "number; write visitors per day, or leave it empty if unknown")
    _check_values(values, [f"line {i + 2}" for i in range(len(values))], str(path))
    return values


def _check_values(values: np.ndarray, where: list[str], source: str) -> None:
    """Refuse infinite or negative counts, naming the first offending row."""
    for bad, what in ((np.isinf(values), "infinite"), (values < 0, "negative")):
        if bad.any():
            i = int(np.argmax(bad))
            raise DailyDataError(f"{source}: {where[i]} has a {what} count ({values[i]}); "
                                 "arrivals are visitors per day, >= 0 (leave unknown days empty)")


def _series_id(table: pd.DataFrame, path: Path) -> str:
    """The spot id from an id column holding one value, else the file's stem."""
    for column in ID_COLUMNS:
        if column in table.columns:
            ids = table[column].str.strip().replace("", np.nan).dropna().unique()
            if len(ids) > 1:
                raise DailyDataError(f"{path} holds several series in {column} "
                                     f"({', '.join(map(str, ids[:3]))}, ...); give one spot "
                                     "per file")
            if len(ids) == 1:
                return str(ids[0])
    return path.stem
