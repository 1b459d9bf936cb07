"""Backtests of the daily-arrivals forecaster against the baselines, in the long predictions
table of :mod:`flowcast.evaluation.predictions`.

Protocol (:func:`backtest_daily`): the last ``test_days`` days are the test span. Forecasts are
issued at the end of every day from the last training day on (the *origins*), for every horizon,
and scored where the target day is in the data: horizon ``h`` has ``test_days - h + 1`` scored
days. The model is trained only on days up to its issue day: once, on everything before the test
span (``refit_every=None``), or again every ``K`` origins on everything up to that origin.
The baselines read the same history:

- ``last_value``: the issue day's count (the latest within 12 days);
- ``seasonal_naive``: the target's weekday in the latest week not after the issue day;
- ``historical_average``: the mean of that weekday over 4 weeks.

:func:`block_scheme` picks, from such a table, the rows of the tourism paper's protocol
(Li et al. 2024): the test days predicted in consecutive blocks of ``b`` days, each block by the
forecast issued at its start, so the paper's "h = b" figure is the error over all steps 1..b.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from flowcast.evaluation.predictions import validate_predictions
from flowcast.models.baselines import HistoricalAverage, LastValue, SeasonalNaive
from flowcast.models.daily import forecaster as da
from flowcast.models.daily.data import check_daily_series
from flowcast.models.forecaster import Forecaster


def daily_baselines() -> list[Forecaster[np.ndarray]]:
    """The three baselines on daily buckets: last value, historical average of the same
    weekday over 4 weeks, seasonal naive weekly (same weekday last week)."""
    return [LastValue(), HistoricalAverage(season=7, days=4), SeasonalNaive(season=7)]


def backtest_daily(series: pd.Series, horizons: Iterable[int] = da.DEFAULT_HORIZONS,
                   test_days: int = 90, refit_every: int | None = None,
                   config: da.DailyConfig | None = None, *,
                   timezone: str = da.DEFAULT_TIMEZONE) -> pd.DataFrame:
    """Rolling-origin backtest of the model and the baselines over the last ``test_days``.

    ``series``: a daily series (:mod:`flowcast.models.daily.data`); ``horizons`` in days;
    ``refit_every``: None = one model trained on the days before the test span, ``K`` = retrain
    every ``K`` origins on the days up to that origin. Returns the validated predictions table
    (``model`` = ``lightgbm`` and the baselines' names, ``p10``/``p90`` for the model only) with
    an extra column ``trained_to``, the last training day of the model that made each row.
    """
    series = check_daily_series(series)
    horizons = da.check_horizons(horizons)
    first = _first_origin(series, test_days, refit_every)
    origins = np.arange(first, len(series) - 1)
    frames = [_model_rows(series, origins, horizons, refit_every, config, timezone),
              baseline_rows(series, origins, horizons, timezone)]
    return validate_predictions(pd.concat(frames, ignore_index=True))


def _first_origin(series: pd.Series, test_days: int, refit_every: int | None) -> int:
    """Index of the last day before the test span (the first issue day), after checks."""
    if not 1 <= test_days <= len(series) - da.MIN_TRAIN_ROWS:
        raise da.DailyModelError(f"test_days must be 1..{len(series) - da.MIN_TRAIN_ROWS} for "
                                 f"a series of {len(series)} days; got {test_days}")
    if refit_every is not None and refit_every < 1:
        raise da.DailyModelError(f"refit_every must be a number of days >= 1, or None; got "
                                 f"{refit_every}")
    return len(series) - test_days - 1


def _model_rows(series: pd.Series, origins: np.ndarray, horizons: tuple[int, ...],
                refit_every: int | None, config: da.DailyConfig | None,
                timezone: str) -> pd.DataFrame:
    """The model's rows; each chunk of origins uses a model trained up to the chunk's first."""
    step = len(origins) if refit_every is None else refit_every
    frames = []
    for start in range(0, len(origins), step):
        chunk = origins[start:start + step]
        model = da.fit(series, horizons, config, train_end=series.index[chunk[0]],
                       timezone=timezone)
        rows = da.predict_at(model, series, chunk, horizons)
        frames.append(rows.assign(trained_to=str(series.index[chunk[0]].date())))
    table = pd.concat(frames, ignore_index=True)
    return table[_in_data(table, series, timezone)]


def baseline_rows(series: pd.Series, origins: np.ndarray, horizons: Iterable[int],
                  timezone: str = da.DEFAULT_TIMEZONE) -> pd.DataFrame:
    """Long-format rows of :func:`daily_baselines` issued at day indices ``origins`` of a clean
    daily series (only days up to each origin are read), for targets inside the data."""
    horizons = np.array(da.check_horizons(horizons), dtype=np.int64)
    values = series.to_numpy(np.float64)
    lookback = 7 * (int(np.ceil(horizons.max() / 7)) + 4)
    columns = origins[:, None] - lookback + 1 + np.arange(lookback)[None, :]
    window = np.where(columns >= 0, values[np.clip(columns, 0, None)], np.nan)
    frames = []
    for baseline in daily_baselines():
        forecast = baseline.predict(window, horizons).y  # (origins, horizons)
        for j, h in enumerate(horizons):
            out = {"point": forecast[:, j].astype(np.float64)}
            rows = da.forecast_rows(series, origins, int(h), out, timezone)
            frames.append(rows.assign(model=baseline.name, trained_to=None))
    table = pd.concat(frames, ignore_index=True)
    return table[_in_data(table, series, timezone)]


def _in_data(table: pd.DataFrame, series: pd.Series, timezone: str) -> np.ndarray:
    """Rows whose target day is inside the series."""
    last = da.day_times(series.index[0], np.array([len(series) - 1]), timezone)[0]
    return (table["target_time"] <= last).to_numpy()


def block_scheme(predictions: pd.DataFrame, block: int,
                 first_origin: pd.Timestamp | None = None) -> pd.DataFrame:
    """The rows of the paper's block protocol: origins ``first_origin + k * block`` days
    (default the table's first origin), steps ``1..block`` from each. Every test day then
    appears once per model; the last block may be shorter. Score it with
    ``horizon_metrics(..., pooled_steps=True)`` at ``horizon_steps = block``."""
    if block < 1:
        raise da.DailyModelError(f"block must be >= 1 day; got {block}")
    df = validate_predictions(predictions)
    have = set(df["horizon_steps"].unique())
    if not set(range(1, block + 1)) <= have:
        raise da.DailyModelError(f"the block scheme of {block} d needs every horizon 1..{block}; "
                                 f"the table has {sorted(have)}")
    first = df["origin"].min() if first_origin is None else first_origin
    days = (df["origin"] - first) / pd.Timedelta(days=1)
    keep = (days >= 0) & (np.round(days) % block == 0) & (df["horizon_steps"] <= block)
    return df[keep.to_numpy()].reset_index(drop=True)
