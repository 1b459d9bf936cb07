"""The long predictions table that every backtest and replay produces, and its contract.

The predictions table (one row per model x series x origin x horizon):

=================  ========================  ==============================================
column             dtype                     meaning
=================  ========================  ==============================================
``series``         str                       sensor, segment or spot id
``origin``         datetime64[ns, UTC]       the forecast's issue time
``horizon_steps``  int64 (>= 1)              buckets ahead
``target_time``    datetime64[ns, UTC]       the time the forecast is for
``y_true``         float64                   the truth; NaN = missing truth
``y_pred``         float64                   the forecast; NaN = the model gave none
``p10``, ``p90``   float64 (optional, both)  interval bounds; NaN where a model has none
``model``          str (optional)            "lightgbm", "last_value", ...; absent = "model"
=================  ========================  ==============================================

:func:`validate_predictions` checks a table and normalises it; every metric reads a validated
table (:mod:`flowcast.evaluation.metrics`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from flowcast.errors import FlowcastUserError

PREDICTION_COLUMNS = ("series", "origin", "horizon_steps", "target_time", "y_true", "y_pred")
INTERVAL_COLUMNS = ("p10", "p90")
DEFAULT_MODEL = "model"  # the model name given to a table without a ``model`` column
KEY_COLUMNS = ("model", "series", "origin", "horizon_steps")


class PredictionsError(FlowcastUserError, ValueError):
    """A predictions table that breaks the contract; the message names the column and the fix."""


def validate_predictions(df: pd.DataFrame) -> pd.DataFrame:
    """Check a predictions table and return a normalised copy.

    The copy has a fresh RangeIndex and the canonical column order (``PREDICTION_COLUMNS``, then
    ``p10``, ``p90`` if given, then ``model``, then any extra columns unchanged); ``series`` and
    ``model`` as str, times as datetime64[ns, UTC], ``horizon_steps`` int64, values float64.
    Raises :class:`PredictionsError` (a ``ValueError``) naming the problem: a missing column, a
    wrong dtype, a naive timestamp, a missing key value, a horizon < 1, an infinite value, a p10
    above its p90, or a duplicated (model, series, origin, horizon_steps) row.
    """
    if not isinstance(df, pd.DataFrame):
        raise PredictionsError(f"predictions must be a pandas DataFrame, not {type(df).__name__}")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise PredictionsError(f"predictions lack column(s) {', '.join(missing)}; the table needs "
                               f"{', '.join(PREDICTION_COLUMNS)}")
    bounds = [c for c in INTERVAL_COLUMNS if c in df.columns]
    if len(bounds) == 1:
        raise PredictionsError(f"predictions have {bounds[0]} without its partner; "
                               "give both p10 and p90, or neither")
    df = df.reset_index(drop=True)
    out = {
        "series": _labels(df["series"], "series"),
        "origin": _utc(df["origin"], "origin"),
        "horizon_steps": _steps(df["horizon_steps"]),
        "target_time": _utc(df["target_time"], "target_time"),
    }
    for column in ("y_true", "y_pred", *bounds):
        out[column] = _floats(df[column], column)
    out["model"] = _labels(df["model"], "model") if "model" in df else DEFAULT_MODEL
    table = pd.DataFrame(out, index=df.index)
    for column in df.columns:
        if column not in table.columns:
            table[column] = df[column]
    if bounds:
        _check_bounds(table)
    _check_unique(table)
    return table


def _labels(col: pd.Series, name: str) -> pd.Series:
    """Text ids (integer ids are accepted and written as text)."""
    if col.isna().any():
        raise PredictionsError(f"{name} is missing in {int(col.isna().sum())} row(s); "
                               f"every row needs a {name}")
    if not (ptypes.is_string_dtype(col) or ptypes.is_object_dtype(col)
            or (ptypes.is_integer_dtype(col) and not ptypes.is_bool_dtype(col))):
        raise PredictionsError(f"{name} must be text ids, not {col.dtype}")
    return col.astype(str)


def _utc(col: pd.Series, name: str) -> pd.Series:
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        if ptypes.is_datetime64_dtype(col):
            raise PredictionsError(f"{name} has no time zone; localize it, e.g. "
                                   f"df['{name}'] = df['{name}'].dt.tz_localize('UTC')")
        raise PredictionsError(f"{name} must be datetime64 with a time zone, not {col.dtype}; "
                               "parse it with pd.to_datetime(..., utc=True)")
    if col.isna().any():
        raise PredictionsError(f"{name} is missing (NaT) in {int(col.isna().sum())} row(s)")
    return col.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _steps(col: pd.Series) -> pd.Series:
    if not ptypes.is_integer_dtype(col) or ptypes.is_bool_dtype(col):
        raise PredictionsError(f"horizon_steps must be integers (buckets ahead), not {col.dtype}")
    if col.isna().any():
        raise PredictionsError(f"horizon_steps is missing in {int(col.isna().sum())} row(s)")
    if (col < 1).any():
        raise PredictionsError(f"horizon_steps must be >= 1; found {int(col.min())}")
    return col.astype(np.int64)


def _floats(col: pd.Series, name: str) -> pd.Series:
    if not ptypes.is_numeric_dtype(col) or ptypes.is_bool_dtype(col):
        raise PredictionsError(f"{name} must be numeric, not {col.dtype}")
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise PredictionsError(f"{name} has {int(np.isinf(values).sum())} infinite value(s); "
                               "use NaN for a missing value")
    return pd.Series(values, index=col.index)


def _check_bounds(table: pd.DataFrame) -> None:
    crossed = (table["p10"] > table["p90"]).to_numpy()
    if crossed.any():
        first = table.loc[np.argmax(crossed)]
        raise PredictionsError(
            f"p10 exceeds p90 in {int(crossed.sum())} row(s) (first: model {first['model']}, "
            f"series {first['series']}, origin {first['origin']}); sort the quantiles per row")


def _check_unique(table: pd.DataFrame) -> None:
    repeated = table.duplicated(list(KEY_COLUMNS)).to_numpy()
    if repeated.any():
        first = table.loc[np.argmax(repeated)]
        raise PredictionsError(
            f"{int(repeated.sum())} duplicated (model, series, origin, horizon_steps) row(s) "
            f"(first: {first['model']}, {first['series']}, {first['origin']}, "
            f"{first['horizon_steps']}); keep one forecast per key")
