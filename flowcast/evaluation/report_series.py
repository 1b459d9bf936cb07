"""The report's "forecasts against the truth" section: which series, which days, their errors.

A week of 15-minute forecasts on one 8-inch line is unreadable. Each chosen series (the worst
few by MAE and one typical: the median MAE) is drawn over at most two local days, one panel
each: with more days in the test span, the series' typical day (the median of its daily MAEs)
and its worst day, among the days with at least half the forecasts of the fullest one. Daily
(or coarser) data is drawn over the whole span instead. Beneath each plot, the series' MAE at
every horizon beside the reference baseline's, so the one horizon drawn is not the only one
seen.
"""

from __future__ import annotations

import pandas as pd

from flowcast.evaluation.metrics import horizon_table
from flowcast.evaluation.report_html import SeriesPanel
from flowcast.evaluation.report_plots import labelled, series_days, series_forecast
from flowcast.evaluation.report_text import fmt, horizon_label
from flowcast.evaluation.summary import Evaluation

DAY_S = 86_400
MAX_DAYS = 2


def series_panels(ev: Evaluation, horizon: int, reference: str | None,
                  n_series: int) -> list[SeriesPanel]:
    """One panel per chosen series (:func:`chosen_series`): the plot at ``horizon`` (steps) of
    the focus model beside ``reference`` (a baseline, or None), its caption and its MAE by
    horizon."""
    return [_panel(ev, series, role, horizon, reference)
            for series, role in chosen_series(ev.worst, n_series)]


def chosen_series(worst: pd.DataFrame, n: int) -> list[tuple[str, str]]:
    """(series, role): the ``n`` worst series by MAE, then the median one if not among them.
    ``worst`` is a per-series metrics table, worst first."""
    scored = [str(s) for s in worst.index[(worst["n"] > 0).to_numpy()]]
    chosen = [(s, f"worst #{i + 1}") for i, s in enumerate(scored[:n])]
    if scored and scored[len(scored) // 2] not in scored[:n]:
        chosen.append((scored[len(scored) // 2], "typical: median MAE"))
    return chosen


def series_rows(ev: Evaluation, model: str, series: str, horizon: int) -> pd.DataFrame:
    """The rows of ``model`` on ``series`` at ``horizon`` (steps) by target time, with ``t``
    the target time in local time (naive); truths of exactly 0 blanked when zeros are no
    data."""
    df = ev.predictions
    rows = df[(df["model"] == model) & (df["series"] == series)
              & (df["horizon_steps"] == horizon)].sort_values("target_time")
    rows = rows.assign(t=rows["target_time"].dt.tz_convert(ev.timezone).dt.tz_localize(None))
    if ev.zero_is_missing:
        rows = rows.assign(y_true=rows["y_true"].where(rows["y_true"] != 0))
    return rows


def chosen_days(rows: pd.DataFrame, interval_s: int | None
                ) -> tuple[list[tuple[pd.Timestamp, str]], int] | None:
    """The local days to draw ``rows`` (from :func:`series_rows`) over, as (midnight, what the
    day is) in date order, and how many days the rows span; None for daily or coarser buckets
    (draw the whole span). Up to :data:`MAX_DAYS` days are all drawn; otherwise the typical day
    (median daily MAE) and the worst, among the days with at least half the scored points of
    the fullest."""
    if interval_s is None or interval_s >= DAY_S or rows.empty:
        return None
    error = (rows["y_pred"] - rows["y_true"]).abs()
    daily = error.groupby(rows["t"].dt.normalize().to_numpy()).agg(["mean", "count"])
    if len(daily) <= MAX_DAYS or daily["count"].max() == 0:
        return [(pd.Timestamp(d), "") for d in daily.index[:MAX_DAYS]], len(daily)
    full = daily[daily["count"] >= 0.5 * daily["count"].max()]
    if len(full) <= MAX_DAYS:
        return [(pd.Timestamp(d), "") for d in full.index], len(daily)
    ranked = full.sort_values("mean", kind="stable")
    typical, worst = ranked.index[(len(ranked) - 1) // 2], ranked.index[-1]
    return sorted([(pd.Timestamp(typical), "typical day"), (pd.Timestamp(worst), "worst day")]
                  ), len(daily)


def series_errors(ev: Evaluation, series: str, models: list[str]) -> pd.DataFrame:
    """MAE of each of ``models`` on ``series`` at every horizon: index ``horizon_steps``, one
    column per model (in the variable's unit)."""
    df = ev.predictions
    rows = df[(df["series"] == series) & df["model"].isin(models)]
    table = horizon_table(rows, mape_floor=ev.mape_floor, zero_is_missing=ev.zero_is_missing,
                          pooled_steps=False)
    return table["mae"].unstack("model").reindex(columns=models)


def _panel(ev: Evaluation, series: str, role: str, horizon: int,
           reference: str | None) -> SeriesPanel:
    rows = series_rows(ev, ev.focus, series, horizon)
    base = None if reference is None else series_rows(ev, reference, series, horizon)
    label = horizon_label(horizon, ev.interval_s)
    ylabel = labelled(ev.variable or "value", ev.unit)
    title = f"{series}, {label} ahead"
    days = chosen_days(rows, ev.interval_s)
    if days is None:
        uri = series_forecast(rows, base, title=title, focus=ev.focus, baseline_name=reference,
                              ylabel=ylabel)
        shown = "the whole test span"
    else:
        uri = series_days(rows, base, days[0], title=title, focus=ev.focus,
                          baseline_name=reference, ylabel=ylabel)
        shown = _days_shown(*days)
    mae = ev.worst.at[series, "mae"]
    unit = f" {ev.unit}" if ev.unit else ""
    caption = (f"{series} ({role}): {ev.focus} {label} ahead, {shown}, local time "
               f"({ev.timezone}); MAE over all horizons {fmt(mae)}{unit}.")
    models = [ev.focus] + ([reference] if reference is not None else [])
    return SeriesPanel(caption, uri, series_errors(ev, series, models))


def _days_shown(days: list[tuple[pd.Timestamp, str]], total: int) -> str:
    """What the caption says of the days drawn, out of ``total`` in the test span."""
    if total <= len(days):
        return "every day of the test span"
    dates = " and ".join(f"{day:%a %d %b}" + (f" ({label})" if label else "")
                         for day, label in days)
    why = ("its median and its highest daily MAE" if all(label for _, label in days)
           else "the days with the most forecasts")
    return f"{len(days)} of its {total} test days ({why}): {dates}"
