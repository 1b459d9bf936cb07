"""The backtest report page: one self-contained HTML file (inline CSS, inline PNG plots).

Nothing on the page is fetched: no scripts, no stylesheets, no fonts, no external images.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from flowcast.evaluation.report_text import (
    TABLE_COLUMNS,
    best_marks,
    fmt,
    horizon_label,
    ordered,
    verdict_lines,
    with_unit,
)
from flowcast.evaluation.summary import Evaluation

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
       color: #1d2430; background: #f6f7f9; margin: 0; line-height: 1.45; }
main { max-width: 960px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 32px 0 8px; border-bottom: 1px solid #e3e6ea; padding-bottom: 4px; }
p.sub { color: #5b6573; margin: 0 0 16px; font-size: 0.92em; overflow-wrap: anywhere; }
p.model { background: #eef1f5; padding: 8px 12px; border-radius: 6px; font-size: 0.92em; }
.verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; margin: 8px 0; }
.good { background: #e6f4ea; border-left: 5px solid #2e7d32; }
.bad { background: #fdecea; border-left: 5px solid #c62828; }
.neutral { background: #eef1f5; border-left: 5px solid #6b7b8c; }
table { border-collapse: collapse; font-size: 0.85em; margin: 8px 0; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e8eaed; white-space: nowrap; }
th { background: #f0f2f5; text-align: left; white-space: normal; vertical-align: bottom; }
table.about { width: 100%; table-layout: fixed; }
table.about td { white-space: normal; overflow-wrap: anywhere; }
table.about td:first-child { width: 34%; color: #5b6573; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.focus td { background: #f3f7fd; }
tr.first td { border-top: 2px solid #c9ced6; }
td b { color: #1f5fa8; }
img { max-width: 100%; display: block; margin: 8px 0 4px; }
p.cap, p.note { color: #5b6573; font-size: 0.85em; margin: 2px 0 12px; }
details { margin-top: 24px; }
summary { cursor: pointer; font-weight: 600; }
code { background: #f0f2f5; padding: 1px 4px; border-radius: 3px; }
"""


@dataclass
class SeriesPanel:
    """One series against the truth: the plot (a data URI), its caption, and the series' MAE
    by horizon (index ``horizon_steps``, one column per model, in the variable's unit)."""

    caption: str
    uri: str
    errors: pd.DataFrame


@dataclass
class Plots:
    """The report's images as data URIs, with captions for the series plots."""

    by_horizon: str
    by_time: str
    worst: str
    series: list[SeriesPanel] = field(default_factory=list)
    horizon: int = 1  # the horizon the series plots show
    reference: str | None = None  # the baseline drawn beside the focus model
    reference_mae: pd.Series | None = None  # that baseline's MAE per series


def esc(value: Any) -> str:
    """Text escaped for HTML."""
    return html.escape(str(value), quote=True)


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{esc(alt)}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int,
           row_classes: Sequence[str] | None = None, css: str = "") -> str:
    """An HTML table of class ``css``; cells are already escaped; columns from
    ``numeric_from`` right-aligned."""
    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="num"' if i >= numeric_from else ""
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", i, esc(h)) for i, h in enumerate(header))
    classes = row_classes or [""] * len(rows)
    body = "".join(
        f'<tr class="{c}">' + "".join(cell("td", i, t) for i, t in enumerate(r)) + "</tr>"
        for r, c in zip(rows, classes, strict=True))
    opening = f'<table class="{css}">' if css else "<table>"
    return f"{opening}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def metrics_table(table: pd.DataFrame, model: str | None, interval_s: int | None,
                  unit: str | None = None) -> str:
    """A horizon_metrics table as HTML, model under test first, best per horizon in bold;
    ``unit`` (of MAE, RMSE, bias, width) in the headings."""
    table = ordered(table, model)
    columns = [c for c in TABLE_COLUMNS
               if c[0] not in ("coverage", "width") or table["coverage"].notna().any()]
    marks = best_marks(table)
    rows, classes, previous = [], [], None
    for (name, steps), row in table.iterrows():
        cells = [esc(horizon_label(int(steps), interval_s)), esc(name)]
        for column, _, kind in columns:
            text = esc(fmt(row[column], kind))
            cells.append(f"<b>{text}</b>" if marks.at[(name, steps), column] else text)
        rows.append(cells)
        classes.append(" ".join(filter(None, ["focus" if name == model else "",
                                               "first" if steps != previous else ""])))
        previous = steps
    header = ["horizon", "model", *(with_unit(heading, kind, unit)
                                     for _, heading, kind in columns)]
    return _table(header, rows, numeric_from=2, row_classes=classes)


def _summary(ev: Evaluation) -> str:
    lines = verdict_lines(ev.improvement, ev.model, ev.interval_s)
    imp = ev.improvement
    if imp is None or imp["best_baseline"].isna().all():
        tone = "neutral"
    else:
        tone = "good" if imp["beats_all_baselines"].all() else "bad"
    parts = [f'<div class="verdict {tone}">{esc(lines[0])}</div>']
    if imp is not None and not imp.empty:
        rows = [[esc(horizon_label(int(h), ev.interval_s)), esc(r["best_baseline"] or "-"),
                 fmt(r["rmse"]), fmt(r["baseline_rmse"]), fmt(r["rmse_reduction"], "pct"),
                 fmt(r["mae"]), fmt(r["baseline_mae"]), fmt(r["mae_reduction"], "pct"),
                 "yes" if r["beats_all_baselines"] else f"no ({esc(r['loses_to'])})"]
                for h, r in imp.iterrows()]
        unit = ev.unit
        header = ["horizon", "best baseline", with_unit(f"{ev.model} RMSE", "num", unit),
                  with_unit("baseline RMSE", "num", unit), "RMSE reduction (%)",
                  with_unit(f"{ev.model} MAE", "num", unit), with_unit("baseline MAE", "num", unit),
                  "MAE reduction (%)", "beats all baselines"]
        parts.append(_table(header, rows, numeric_from=2))
        parts.append('<p class="note">Best baseline = the baseline with the lowest RMSE at that '
                     "horizon; reduction = 1 - model / baseline (positive = the model is "
                     "better). Beating all baselines means a lower RMSE and a lower MAE than "
                     "each of them.</p>")
    return "\n".join(parts)


def _scoring_note(ev: Evaluation) -> str:
    zeros = " Exact zeros in the truth count as missing." if ev.zero_is_missing else ""
    unit = ev.unit or "the variable's units"
    floor = f"{fmt(ev.mape_floor)} {ev.unit}" if ev.unit else fmt(ev.mape_floor)
    return (f'<p class="note">n: scored points (truth and forecast both present).{zeros} MAPE '
            f"leaves out truths with |y| &lt; {esc(floor)}. MAPE, WAPE and coverage in "
            f"percent; MAE, RMSE, bias (forecast - truth) and width in {esc(unit)}. "
            "Bold: best at that horizon (smallest |bias| for bias).</p>")


def _worst(ev: Evaluation, plots: Plots, n_worst: int) -> str:
    worst = ev.worst.head(n_worst)
    ref = plots.reference_mae
    rows = [[esc(s), fmt(r["n"], "int"), fmt(r["mae"]), fmt(r["rmse"]), fmt(r["bias"]),
             fmt(ref.get(s, float("nan")) if ref is not None else float("nan"))]
            for s, r in worst.iterrows()]
    unit = ev.unit
    header = ["series", "n", with_unit("MAE", "num", unit), with_unit("RMSE", "num", unit),
              with_unit("bias", "num", unit),
              with_unit(f"{plots.reference or 'baseline'} MAE", "num", unit)]
    return (_img(plots.worst, "worst series") + _table(header, rows, numeric_from=1)
            + f'<p class="cap">{esc(ev.focus)}, all horizons pooled, highest MAE first.</p>')


def _series_section(ev: Evaluation, plots: Plots) -> str:
    """Each series plot, its caption, and its MAE by horizon as one small table."""
    parts = []
    for panel in plots.series:
        errors = panel.errors
        header = [with_unit("MAE", "num", ev.unit),
                  *(horizon_label(int(h), ev.interval_s) for h in errors.index)]
        rows = [[esc(model), *(fmt(v) for v in errors[model])] for model in errors.columns]
        parts.append(_img(panel.uri, panel.caption) + f'<p class="cap">{esc(panel.caption)}</p>'
                     + _table(header, rows, numeric_from=1))
    return "\n".join(parts)


def _about(ev: Evaluation, doc: dict[str, Any]) -> str:
    span = doc["span"]
    facts = [
        ("target times (UTC)", f"{span['first_target']} .. {span['last_target']}"),
        ("forecast origins (UTC)", f"{span['first_origin']} .. {span['last_origin']}"),
        ("rows / series", f"{doc['rows']:,} / {doc['series']:,}"),
        ("models", ", ".join(doc["models"])),
        ("variable", f"{ev.variable or '-'} ({ev.unit})" if ev.unit else ev.variable or "-"),
        ("bucket", "-" if ev.interval_s is None else horizon_label(1, ev.interval_s)),
        ("time zone (time of day)", ev.timezone),
        *flatten_settings(doc["meta"]),
    ]
    rows = [[esc(k), esc(v)] for k, v in facts]
    return (_table(["setting", "value"], rows, numeric_from=99, css="about")
            + '<p class="note">Files beside this page: <code>metrics.json</code> (every table '
            "here, machine-readable) and <code>predictions.csv</code> (one row per model, "
            "series, origin and horizon: recompute any figure from it).</p>")


def flatten_settings(settings: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as (``section.key``, formatted value) rows, in order: a dict's keys
    joined with dots, a list of dicts numbered (``folds[1].trained_to``), other values as
    :func:`format_setting` writes them."""
    rows: list[tuple[str, str]] = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten_settings(value, f"{name}."))
        elif (isinstance(value, list | tuple) and value
              and all(isinstance(v, Mapping) for v in value)):
            for i, item in enumerate(value, start=1):
                rows.extend(flatten_settings(item, f"{name}[{i}]."))
        else:
            rows.append((name, format_setting(value)))
    return rows


def format_setting(value: Any) -> str:
    """One setting for people: ``-`` for none or empty, yes / no, whole numbers with thousands
    separators, other numbers to 4 significant digits, lists comma-separated."""
    if value is None or (isinstance(value, Mapping | list | tuple) and not value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_setting(v) for v in value)
    return str(value)


def render(ev: Evaluation, doc: dict[str, Any], *, title: str, plots: Plots,
           n_worst: int = 10) -> str:
    """The whole report page as one HTML string."""
    meta = doc["meta"]
    horizons = ", ".join(horizon_label(h, ev.interval_s) for h in doc["horizons_steps"])
    sub = " · ".join(filter(None, [
        str(meta["dataset"]) if meta.get("dataset") else "",
        f"{doc['span']['first_target'][:10]} .. {doc['span']['last_target'][:10]}",
        f"{doc['series']} series", f"horizons {horizons}"]))
    model = (f'<p class="model"><b>Model:</b> {esc(meta["model"])}</p>' if meta.get("model")
             else "")
    by_time = "day of week" if ev.interval_s and ev.interval_s >= 86400 else "time of day"
    series_label = horizon_label(plots.horizon, ev.interval_s)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{esc(title)}</h1>
<p class="sub">{esc(sub)}</p>
{model}
<h2>Summary</h2>
{_summary(ev)}
<h2>Metrics by horizon</h2>
{metrics_table(ev.per_horizon, ev.model, ev.interval_s, ev.unit)}
{_scoring_note(ev)}
<h2>Error by horizon</h2>
{_img(plots.by_horizon, "MAE and RMSE by horizon")}
<h2>Error by {by_time}</h2>
{_img(plots.by_time, "error by " + by_time)}
<p class="cap">Local {by_time} ({esc(ev.timezone)}) of the target time, all horizons pooled.</p>
<h2>Worst series</h2>
{_worst(ev, plots, n_worst)}
<h2>Forecasts against the truth, {esc(series_label)} ahead</h2>
{_series_section(ev, plots)}
<details><summary>T-GCN protocol: steps 1..h pooled, zeros not masked</summary>
<p class="note">The figure at horizon h pools every step from 1 to h, and zeros in the truth are
scored as values: the protocol of Zhao et al. (T-GCN), for putting numbers beside theirs.</p>
{metrics_table(ev.pooled, ev.model, ev.interval_s, ev.unit)}
</details>
<h2>About this report</h2>
{_about(ev, doc)}
</main></body></html>
"""
