"""The backtest report directory: ``metrics.json``, ``predictions.csv`` and ``report.html``.

``flowcast backtest`` and ``flowcast replay`` hand their long predictions table (see
:mod:`flowcast.evaluation.metrics`) to :func:`write_report`. docs/backtest-report.md describes the
files and how to recompute every figure from ``predictions.csv``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.metrics import BASELINE_MODELS
from flowcast.evaluation.predictions import validate_predictions
from flowcast.evaluation.report_html import Plots, render
from flowcast.evaluation.report_plots import error_by_horizon, error_by_time, worst_series_bars
from flowcast.evaluation.report_series import series_panels
from flowcast.evaluation.summary import Evaluation, evaluate, metrics_json

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
REPORT_FILE = "report.html"
TIME_COLUMNS = ("origin", "target_time")


@dataclass(frozen=True)
class ReportFiles:
    """Paths of the three files a report writes."""

    metrics_json: Path
    predictions_csv: Path
    report_html: Path


def write_report(out_dir: str | os.PathLike[str], predictions: pd.DataFrame, *, title: str,
                 meta: dict[str, Any], timezone: str, interval_s: int,
                 model: str | None = None, baselines: Sequence[str] = BASELINE_MODELS,
                 mape_floor: float = 1.0, zero_is_missing: bool = False,
                 plot_horizon: int | None = None, n_worst: int = 10,
                 n_series_plots: int = 3, variable: str | None = None,
                 unit: str | None = None) -> ReportFiles:
    """Score ``predictions`` and write the report directory ``out_dir`` (created if needed).

    ``meta`` (dataset, model version, data hash, ...) goes verbatim into metrics.json and the
    page (nested settings flattened to ``section.key`` rows there); ``timezone`` (IANA) is for
    time-of-day; ``interval_s`` is the bucket length in seconds. ``model`` is the model under
    test (default: the only non-baseline model). ``plot_horizon`` (steps; default the longest)
    is the horizon of the series plots: the ``n_series_plots`` worst series and one typical
    (median MAE). ``variable`` and ``unit`` (``"speed"``, ``"km/h"``) label every table and
    axis. Each file is written to a temporary name and renamed into place. Returns the three
    paths.
    """
    if not isinstance(meta, dict):
        raise FlowcastUserError(f"meta must be a dict, not {type(meta).__name__}")
    out = check_report_dir(out_dir)
    ev = evaluate(predictions, timezone=timezone, interval_s=interval_s, model=model,
                  baselines=baselines, mape_floor=mape_floor, zero_is_missing=zero_is_missing,
                  variable=variable, unit=unit)
    doc = {"title": title, **metrics_json(ev, meta, n_worst=n_worst)}
    page = render(ev, doc, title=title, n_worst=n_worst,
                  plots=build_plots(ev, plot_horizon, n_worst, n_series_plots))
    out.mkdir(parents=True, exist_ok=True)  # only now: a failed evaluation leaves nothing
    files = ReportFiles(out / METRICS_FILE, out / PREDICTIONS_FILE, out / REPORT_FILE)
    _atomic(files.metrics_json, lambda p: p.write_text(
        json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False), encoding="utf-8"))
    _atomic(files.predictions_csv, lambda p: _csv_ready(ev.predictions).to_csv(p, index=False))
    _atomic(files.report_html, lambda p: p.write_text(page, encoding="utf-8"))
    return files


def read_predictions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ``predictions.csv`` back into a validated predictions table (times UTC, series
    and model as text)."""
    path = Path(path)
    if not path.is_file():
        raise FlowcastUserError(f"{path} does not exist; give the predictions.csv of a report")
    table = pd.read_csv(path, dtype={"series": str, "model": str})
    for column in TIME_COLUMNS:
        if column in table:
            table[column] = pd.to_datetime(table[column], utc=True, format="ISO8601")
    return validate_predictions(table)


def _csv_ready(table: pd.DataFrame) -> pd.DataFrame:
    """Times as ISO 8601 UTC text ("2015-01-01T00:15:00Z"): what pandas would write, about
    three times faster, and unambiguous to any reader."""
    out = table.copy()
    for column in TIME_COLUMNS:
        values = out[column].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        whole = (values.astype(np.int64) % 1_000_000_000 == 0).all()
        out[column] = np.datetime_as_string(values, unit="s" if whole else "ns", timezone="UTC")
    return out


def check_report_dir(out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir`` as a path, refused (a :class:`FlowcastUserError`) when it exists and is not
    a directory; commands call it before any work, :func:`write_report` again."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FlowcastUserError(f"{out} exists and is not a directory; choose another --report")
    return out


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)``, then rename it to ``path``: no half-written file is left."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- plots ---------------------------------------------------------------------------------

def build_plots(ev: Evaluation, plot_horizon: int | None = None, n_worst: int = 10,
                n_series_plots: int = 3) -> Plots:
    """Every plot of the report: error by horizon, by time of day, worst series, and the
    forecast against the truth for the worst and one typical series at ``plot_horizon``
    (:mod:`flowcast.evaluation.report_series`)."""
    horizon = _plot_horizon(ev, plot_horizon)
    reference = _reference(ev, horizon)
    ref_mae = None if reference is None else ev.series_metrics(reference)["mae"]
    by = "weekday" if ev.time_of_day.index.names[1] == "weekday" else "hour"
    return Plots(
        by_horizon=error_by_horizon(ev.per_horizon, ev.focus, ev.interval_s, ev.unit),
        by_time=error_by_time(ev.time_of_day, ev.focus, by, ev.unit),
        worst=worst_series_bars(ev.worst.head(n_worst), ev.focus, ref_mae, reference, ev.unit),
        series=series_panels(ev, horizon, reference, n_series_plots),
        horizon=horizon, reference=reference, reference_mae=ref_mae,
    )


def _plot_horizon(ev: Evaluation, plot_horizon: int | None) -> int:
    own = ev.per_horizon.xs(ev.focus, level="model").index
    if plot_horizon is None:
        return int(own.max())
    if plot_horizon not in own:
        raise FlowcastUserError(f"plot_horizon {plot_horizon} is not among {ev.focus}'s "
                                f"horizons ({', '.join(str(h) for h in own)})")
    return int(plot_horizon)


def _reference(ev: Evaluation, horizon: int) -> str | None:
    """The model drawn beside the focus model: the lowest-RMSE baseline at ``horizon`` (any
    other model when no baseline was scored there)."""
    at = ev.per_horizon.xs(horizon, level="horizon_steps")
    others = at[(at.index != ev.focus) & (at["n"] > 0).to_numpy()]
    preferred = others[others.index.isin(list(ev.baselines))]
    others = preferred if not preferred.empty else others
    return None if others.empty else str(others["rmse"].idxmin())
