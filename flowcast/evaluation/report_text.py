"""Text for people: the terminal metrics table, the verdict against the baselines, labels.

:func:`format_table` is what ``flowcast backtest`` prints; :func:`verdict_lines` is shared by the
terminal and the HTML report so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from flowcast.evaluation.metrics import BASELINE_MODELS, improvement_over_baselines
from flowcast.evaluation.summary import pick_model

# (column, heading, kind); kind "pct" shows a fraction as a percentage
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("n", "n", "int"),
    ("mae", "MAE", "num"),
    ("rmse", "RMSE", "num"),
    ("mape", "MAPE", "pct"),
    ("wape", "WAPE", "pct"),
    ("bias", "bias", "num"),
    ("coverage", "P10-P90 cover", "pct"),
    ("width", "width", "num"),
)
LOWER_IS_BETTER = ("mae", "rmse", "mape", "wape")
BEST_MARK = "*"


def horizon_label(steps: int, interval_s: int | None) -> str:
    """``steps`` buckets ahead as a duration ("15 min", "60 min", "3 h", "7 d"), or "h=3" without
    ``interval_s`` (seconds per bucket)."""
    if interval_s is None:
        return f"h={steps}"
    seconds = int(steps) * int(interval_s)
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    # traffic people say "60 min", "90 min"; hours from two hours up
    if seconds % 3600 == 0 and seconds >= 7200:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def fmt(value: float, kind: str = "num") -> str:
    """One cell: "-" for NaN; counts as integers; fractions as percentages; other numbers with
    about four significant digits."""
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return "-"
    if kind == "int":
        return f"{int(value)}"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    size = abs(value)
    decimals = 0 if size >= 1000 else 1 if size >= 100 else 2 if size >= 10 else 3
    return f"{value:.{decimals}f}"


def with_unit(heading: str, kind: str, unit: str | None) -> str:
    """A column heading with its unit: ``MAE (km/h)`` for a value in the variable's ``unit``
    (kind ``num``), ``MAPE (%)`` for a fraction shown as a percentage (kind ``pct``); counts
    (kind ``int``) and a value without a known unit as they are."""
    if kind == "pct":
        return f"{heading} (%)"
    if kind == "num" and unit:
        return f"{heading} ({unit})"
    return heading


def best_marks(table: pd.DataFrame) -> pd.DataFrame:
    """Booleans shaped like ``table`` (a horizon_metrics table): True where a value is the best
    at its horizon (lowest MAE/RMSE/MAPE/WAPE, smallest |bias|; ties all marked)."""
    marks = pd.DataFrame(False, index=table.index, columns=table.columns)
    by = table.index.get_level_values("horizon_steps")
    for column in (*LOWER_IS_BETTER, "bias"):
        values = table[column].abs() if column == "bias" else table[column]
        best = values.groupby(by).transform("min")
        marks[column] = (values == best).to_numpy() & values.notna().to_numpy()
    return marks


def ordered(table: pd.DataFrame, model: str | None) -> pd.DataFrame:
    """Rows by horizon, the model under test first within each horizon, then by name."""
    keys = table.reset_index()[["horizon_steps", "model"]]
    keys["rank"] = (keys["model"] != model).astype(int)
    order = keys.sort_values(["horizon_steps", "rank", "model"], kind="stable").index
    return table.iloc[order.to_numpy()]


def verdict_lines(improvement: pd.DataFrame | None, model: str | None,
                  interval_s: int | None = None) -> list[str]:
    """Plain sentences: does ``model`` beat every baseline at every horizon, by how much, and
    where it loses. ``improvement`` is an :func:`improvement_over_baselines` table."""
    if model is None or improvement is None:
        return ["Only baselines were scored: there is no model to compare against them."]
    if improvement.empty:
        return [f"{model} has no horizons to compare."]
    if improvement["best_baseline"].isna().all():
        return [f"No baseline was scored, so nothing says whether {model} beats them."]
    if improvement["beats_all_baselines"].all():
        head = f"{model} beats every baseline at every horizon."
    else:
        losing = [horizon_label(h, interval_s)
                  for h in improvement.index[~improvement["beats_all_baselines"].to_numpy()]]
        head = f"{model} does NOT beat every baseline: not at {', '.join(losing)}."
    return [head, *(_horizon_line(h, row, interval_s) for h, row in improvement.iterrows())]


def _horizon_line(steps: int, row: pd.Series, interval_s: int | None) -> str:
    label = horizon_label(int(steps), interval_s)
    if row["best_baseline"] is None or pd.isna(row["best_baseline"]):
        return f"  {label}: no baseline scored"
    if not np.isfinite(row["rmse"]):
        return f"  {label}: the model has no scored points"
    text = (f"  {label}: RMSE {fmt(row['rmse'])} vs {fmt(row['baseline_rmse'])} "
            f"({row['best_baseline']}), {_change(row['rmse_reduction'])}; "
            f"MAE {fmt(row['mae'])} vs {fmt(row['baseline_mae'])}, "
            f"{_change(row['mae_reduction'])}")
    if row["beats_all_baselines"]:
        return text + " - beats all"
    return text + f" - loses to {row['loses_to']}"


def _change(reduction: float) -> str:
    if not np.isfinite(reduction):
        return "change undefined"
    if reduction >= 0:
        return f"{100 * reduction:.1f}% lower"
    return f"{-100 * reduction:.1f}% higher"


def format_table(table: pd.DataFrame, *, model: str | None = None,
                 baselines: Sequence[str] = BASELINE_MODELS,
                 interval_s: int | None = None, unit: str | None = None) -> str:
    """The terminal table of a :func:`~flowcast.evaluation.metrics.horizon_metrics` table.

    One row per horizon x model (the model under test first), aligned columns, ``*`` on the best
    value at each horizon, then the verdict against the baselines. ``model`` defaults to
    :func:`~flowcast.evaluation.metrics.pick_model`'s choice; interval columns appear only when some
    model has intervals; ``interval_s`` turns horizons into durations; ``unit`` (``km/h``) is
    named under the table.
    """
    model = pick_model(table.index.get_level_values("model"), model, baselines)
    columns = [c for c in TABLE_COLUMNS
               if c[0] not in ("coverage", "width") or table["coverage"].notna().any()]
    table = ordered(table, model)
    marks = best_marks(table)
    header = ["horizon", "model", *(heading for _, heading, _ in columns)]
    body = []
    for (name, steps), row in table.iterrows():
        cells = [horizon_label(int(steps), interval_s), str(name)]
        for column, _, kind in columns:
            mark = BEST_MARK if marks.at[(name, steps), column] else " "
            cells.append(fmt(row[column], kind) + mark)
        body.append(cells)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        left = [cells[i].ljust(widths[i]) for i in range(2)]
        right = [cells[i].rjust(widths[i]) for i in range(2, len(cells))]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(header))
    improvement = None if model is None else improvement_over_baselines(
        table, model, baselines)
    in_unit = [heading for _, heading, kind in columns if kind == "num"]
    in_pct = [heading for _, heading, kind in columns if kind == "pct"]
    units = f"; {', '.join(in_unit)} in {unit}; {', '.join(in_pct)} in %" if unit else ""
    return "\n".join([line(header), rule, *(line(c) for c in body), rule,
                      f"{BEST_MARK} best at that horizon (|bias| for bias){units}",
                      *verdict_lines(improvement, model, interval_s)])
