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
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
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


def _figure(width: float, height: float, ncols: int = 1, left_in: float = 0.55,
            right_in: float = 0.15) -> tuple[Figure, list]:
    """A figure with ``ncols`` axes side by side. Margins are fixed in inches: a layout engine
    (constrained/tight) would double the drawing time."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left_in / width, right=1 - right_in / width, top=1 - 0.32 / height,
                        bottom=0.45 / height, wspace=0.18)
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


def error_by_horizon(per_horizon: pd.DataFrame, focus: str, interval_s: int | None) -> str:
    """MAE and RMSE against horizon, one line per model. ``per_horizon`` is a horizon_metrics
    table indexed by (model, horizon_steps)."""
    fig, (mae_ax, rmse_ax) = _figure(8.5, 3.0, ncols=2, right_in=LEGEND_IN)
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
    _legend_right(rmse_ax)
    return data_uri(fig)


def error_by_time(time_of_day: pd.DataFrame, focus: str, by: str) -> str:
    """MAE by local hour (or weekday), one line per model, all horizons pooled."""
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
    ax.set_xlabel("local hour of the target time" if by == "hour" else "local weekday",
                  fontsize=8)
    ax.set_title(f"MAE by {'hour of day' if by == 'hour' else 'day of week'}", fontsize=10)
    _legend_right(ax)
    return data_uri(fig)


def worst_series_bars(worst: pd.DataFrame, focus: str, baseline: pd.Series | None,
                      baseline_name: str | None) -> str:
    """Horizontal bars: the focus model's MAE on its worst series, beside a baseline's MAE on
    the same series (``baseline``: MAE indexed by series)."""
    names = list(worst.index)[::-1]  # worst on top
    longest = max((len(str(n)) for n in names), default=4)
    fig, (ax,) = _figure(8.5, 0.9 + 0.28 * max(len(names), 1), left_in=0.25 + 0.075 * longest,
                         right_in=LEGEND_IN)
    y = np.arange(len(names))
    height = 0.4 if baseline is not None else 0.7
    ax.barh(y + (height / 2 if baseline is not None else 0), worst["mae"].to_numpy()[::-1],
            height=height, color=FOCUS_COLOUR, label=focus)
    if baseline is not None:
        ax.barh(y - height / 2, baseline.reindex(names).to_numpy(), height=height,
                color=OTHER_COLOURS[0], label=baseline_name)
    ax.set_yticks(y, names)
    ax.set_title("MAE of the worst series (all horizons)", fontsize=10)
    _legend_right(ax)
    return data_uri(fig)


def series_forecast(rows: pd.DataFrame, baseline_rows: pd.DataFrame | None, *, title: str,
                    focus: str, baseline_name: str | None) -> str:
    """One series at one horizon over the test span: truth, forecast, P10-P90 band, and a
    baseline dashed. ``rows``: local-time naive ``t`` plus y_true, y_pred (p10, p90)."""
    fig, (ax,) = _figure(8.5, 2.6)
    if {"p10", "p90"} <= set(rows.columns) and rows["p10"].notna().any():
        ax.fill_between(rows["t"], rows["p10"], rows["p90"], color=FOCUS_COLOUR, alpha=0.18,
                        linewidth=0, label="P10-P90")
    ax.plot(rows["t"], rows["y_true"], color=TRUTH_COLOUR, linewidth=1.1, label="truth")
    ax.plot(rows["t"], rows["y_pred"], color=FOCUS_COLOUR, linewidth=1.1, label=focus)
    if baseline_rows is not None:
        ax.plot(baseline_rows["t"], baseline_rows["y_pred"], color=OTHER_COLOURS[0],
                linewidth=0.9, linestyle="--", label=baseline_name)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, ncols=4, loc="lower right", bbox_to_anchor=(1, 1),
              borderaxespad=0.2)
    locator = AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return data_uri(fig)
