"""The backtest report's plots, as inline PNG data URIs (matplotlib, Agg, no pyplot).

Figures are built with :class:`matplotlib.figure.Figure` directly: no global backend switch, no
pyplot state, safe beside other threads. Each plot is small (about 8 x 3 in at 100 dpi).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, DateFormatter
from matplotlib.figure import Figure

from flowcast.evaluation.report_text import horizon_label

FOCUS_COLOUR = "#1f5fa8"
OTHER_COLOURS = ("#d0802a", "#4e9a4a", "#9a5fb0", "#b5465a", "#6b7b8c", "#c2a634")
TRUTH_COLOUR = "#222222"
DPI = 100
LEGEND_IN = 1.45  # inches kept right of the axes for the legend
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def colours(models: Sequence[str], focus: str) -> dict[str, str]:
    """A stable colour per model: the focus model blue, the others from a fixed palette."""
    others = sorted(m for m in models if m != focus)
    palette = {m: OTHER_COLOURS[i % len(OTHER_COLOURS)] for i, m in enumerate(others)}
    return {**palette, focus: FOCUS_COLOUR}


def data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def labelled(text: str, unit: str | None) -> str:
    """An axis label with its unit in brackets (``MAE (km/h)``), or the bare text."""
    return f"{text} ({unit})" if unit else text


def _figure(width: float, height: float, ncols: int = 1, left_in: float = 0.7,
            right_in: float = 0.15, top_in: float = 0.32, wspace: float = 0.18
            ) -> tuple[Figure, list]:
    """A figure with ``ncols`` axes side by side. Margins are fixed in inches: a layout engine
    (constrained/tight) would double the drawing time."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left_in / width, right=1 - right_in / width,
                        top=1 - top_in / height, bottom=0.6 / height, wspace=wspace)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
    return fig, list(axes)


def _legend_right(ax: Any) -> None:
    """The legend outside the axes, on the right, so it never hides data."""
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1),
              borderaxespad=0)


def _width(model: str, focus: str) -> float:
    return 2.2 if model == focus else 1.2


def error_by_horizon(per_horizon: pd.DataFrame, focus: str, interval_s: int | None,
                     unit: str | None = None) -> str:
    """MAE and RMSE (in ``unit``) against horizon, one line per model. ``per_horizon`` is a
    horizon_metrics table indexed by (model, horizon_steps)."""
    fig, (mae_ax, rmse_ax) = _figure(8.5, 3.0, ncols=2, right_in=LEGEND_IN, wspace=0.3)
    models = list(per_horizon.index.get_level_values("model").unique())
    palette = colours(models, focus)
    for model in models:
        rows = per_horizon.xs(model, level="model")
        for ax, column in ((mae_ax, "mae"), (rmse_ax, "rmse")):
            ax.plot(rows.index, rows[column], marker="o", markersize=3.5, label=model,
                    color=palette[model], linewidth=_width(model, focus))
    steps = sorted(per_horizon.index.get_level_values("horizon_steps").unique())
    for ax, name in ((mae_ax, "MAE"), (rmse_ax, "RMSE")):
        ax.set_title(f"{name} by horizon", fontsize=10)
        ax.set_xticks(steps, [horizon_label(int(s), interval_s) for s in steps])
        ax.set_xlabel("forecast horizon (time ahead)", fontsize=8)
        ax.set_ylabel(labelled(name, unit), fontsize=8)
    _legend_right(rmse_ax)
    return data_uri(fig)


def error_by_time(time_of_day: pd.DataFrame, focus: str, by: str,
                  unit: str | None = None) -> str:
    """MAE (in ``unit``) by local hour (or weekday), one line per model, all horizons
    pooled."""
    fig, (ax,) = _figure(8.5, 2.8, right_in=LEGEND_IN)
    models = list(time_of_day.index.get_level_values("model").unique())
    palette = colours(models, focus)
    for model in models:
        rows = time_of_day.xs(model, level="model")
        ax.plot(rows.index, rows["mae"], marker="o", markersize=3, label=model,
                color=palette[model], linewidth=_width(model, focus))
    if by == "weekday":
        ax.set_xticks(range(7), WEEKDAYS)
    else:
        ax.set_xticks(range(0, 24, 2))
        ax.set_xlim(-0.5, 23.5)
    ax.set_xlabel("local hour of the target time (h)" if by == "hour" else "local weekday",
                  fontsize=8)
    ax.set_ylabel(labelled("MAE", unit), fontsize=8)
    ax.set_title(f"MAE by {'hour of day' if by == 'hour' else 'day of week'}", fontsize=10)
    _legend_right(ax)
    return data_uri(fig)


def worst_series_bars(worst: pd.DataFrame, focus: str, baseline: pd.Series | None,
                      baseline_name: str | None, unit: str | None = None) -> str:
    """Horizontal bars: the focus model's MAE (in ``unit``) on its worst series, beside a
    baseline's MAE on the same series (``baseline``: MAE indexed by series)."""
    names = list(worst.index)[::-1]  # worst on top
    longest = max((len(str(n)) for n in names), default=4)
    fig, (ax,) = _figure(8.5, 1.1 + 0.28 * max(len(names), 1), left_in=0.25 + 0.075 * longest,
                         right_in=LEGEND_IN)
    y = np.arange(len(names))
    height = 0.4 if baseline is not None else 0.7
    ax.barh(y + (height / 2 if baseline is not None else 0), worst["mae"].to_numpy()[::-1],
            height=height, color=FOCUS_COLOUR, label=focus)
    if baseline is not None:
        ax.barh(y - height / 2, baseline.reindex(names).to_numpy(), height=height,
                color=OTHER_COLOURS[0], label=baseline_name)
    ax.set_yticks(y, names)
    ax.set_xlabel(labelled("MAE, all horizons pooled", unit), fontsize=8)
    ax.set_title("MAE of the worst series (all horizons)", fontsize=10)
    _legend_right(ax)
    return data_uri(fig)


def _draw_series(ax: Any, rows: pd.DataFrame, baseline_rows: pd.DataFrame | None,
                 focus: str, baseline_name: str | None) -> None:
    """Truth, forecast, P10-P90 band and a dashed baseline of ``rows`` (local naive ``t``)."""
    if {"p10", "p90"} <= set(rows.columns) and rows["p10"].notna().any():
        ax.fill_between(rows["t"], rows["p10"], rows["p90"], color=FOCUS_COLOUR, alpha=0.18,
                        linewidth=0, label="P10-P90")
    ax.plot(rows["t"], rows["y_true"], color=TRUTH_COLOUR, linewidth=1.1, label="truth")
    ax.plot(rows["t"], rows["y_pred"], color=FOCUS_COLOUR, linewidth=1.1, label=focus)
    if baseline_rows is not None:
        ax.plot(baseline_rows["t"], baseline_rows["y_pred"], color=OTHER_COLOURS[0],
                linewidth=0.9, linestyle="--", label=baseline_name)


def _hours_shown(t: pd.Series, day: pd.Timestamp, end: pd.Timestamp
                 ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The stretch of ``day`` (local midnight to ``end``) a panel shows: the whole day, or the
    whole hours around the points ``t`` when they cover only part of it."""
    if t.empty:
        return day, end
    return max(day, t.min().floor("h")), min(end, t.max().ceil("h"))


def _hour_ticks(start: pd.Timestamp, stop: pd.Timestamp, end: pd.Timestamp
                ) -> list[pd.Timestamp]:
    """Ticks on whole hours (every 1, 2 or 3 h by the stretch's length) from ``start`` to
    ``stop``; none at the day's ``end``, whose "00:00" would touch the next panel's."""
    hours = (stop - start) / pd.Timedelta(hours=1)
    step = 1 if hours <= 6 else 2 if hours <= 12 else 3
    ticks = pd.date_range(start.ceil(f"{step}h"), stop, freq=f"{step}h")
    return [t for t in ticks if t < end]


def _within(rows: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The rows whose local time ``t`` lies in ``[start, end)``."""
    return rows[(rows["t"] >= start) & (rows["t"] < end)]


def series_forecast(rows: pd.DataFrame, baseline_rows: pd.DataFrame | None, *, title: str,
                    focus: str, baseline_name: str | None, ylabel: str = "value") -> str:
    """One series at one horizon over the whole test span (for daily data): truth, forecast,
    P10-P90 band, and a baseline dashed. ``rows``: local-time naive ``t`` plus y_true, y_pred
    (p10, p90); ``ylabel`` names the variable and its unit."""
    fig, (ax,) = _figure(8.5, 2.8)
    _draw_series(ax, rows, baseline_rows, focus, baseline_name)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, ncols=4, loc="lower right", bbox_to_anchor=(1, 1),
              borderaxespad=0.2)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_xlabel("local date", fontsize=8)
    locator = AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return data_uri(fig)


def series_days(rows: pd.DataFrame, baseline_rows: pd.DataFrame | None,
                days: Sequence[tuple[pd.Timestamp, str]], *, title: str, focus: str,
                baseline_name: str | None, ylabel: str = "value") -> str:
    """One series at one horizon, one panel per local day of ``days`` ((midnight, what the
    day is), one or two), 00:00 to 24:00 local time, the panels on one value scale; as
    :func:`series_forecast` otherwise."""
    fig, axes = _figure(8.5, 3.1, ncols=len(days), top_in=0.62, wspace=0.08)
    values = [rows[c] for c in ("y_true", "y_pred", "p10", "p90") if c in rows]
    if baseline_rows is not None:
        values.append(baseline_rows["y_pred"])
    finite = pd.concat(values).dropna() if values else pd.Series(dtype=float)
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    pad = 0.05 * (high - low) or 1.0
    for i, (ax, (day, label)) in enumerate(zip(axes, days, strict=True)):
        end = day + pd.Timedelta(days=1)
        shown = _within(rows, day, end)
        _draw_series(ax, shown,
                     None if baseline_rows is None else _within(baseline_rows, day, end),
                     focus, baseline_name)
        start, stop = _hours_shown(shown["t"], day, end)
        ax.set_xlim(start, stop)
        ax.set_ylim(low - pad, high + pad)
        ax.set_xticks(_hour_ticks(start, stop, end))
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
        ax.set_title(f"{day:%a %d %b %Y}" + (f" ({label})" if label else ""), fontsize=9,
                     loc="left")
        ax.set_xlabel("local time", fontsize=8)
        if i == 0:
            ax.set_ylabel(ylabel, fontsize=8)
        else:
            ax.tick_params(labelleft=False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, frameon=False, ncols=4, loc="upper right",
               bbox_to_anchor=(1 - 0.15 / 8.5, 1 - 0.04))
    fig.text(0.7 / 8.5, 1 - 0.08, title, fontsize=10, va="top")
    return data_uri(fig)
