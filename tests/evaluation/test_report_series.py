"""The series section of the report: which series, which days (at most two, readable), and each
series' error by horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowcast.evaluation.report_series import (
    chosen_days,
    chosen_series,
    series_errors,
    series_panels,
)
from flowcast.evaluation.summary import evaluate

T0 = pd.Timestamp("2015-01-25T16:00", tz="UTC")  # local midnight in Shanghai
PER_DAY = 96


def rows(days: int, error_by_day: list[float], missing_day: int | None = None) -> pd.DataFrame:
    """One series at one horizon: ``days`` local days of 15-min targets whose absolute error
    is ``error_by_day[d]`` on day d; ``missing_day`` keeps only a quarter of its points."""
    t = pd.date_range("2015-01-26", periods=days * PER_DAY, freq="15min")
    day = np.arange(len(t)) // PER_DAY
    frame = pd.DataFrame({"t": t, "y_true": 40.0, "y_pred": 40.0 + np.take(error_by_day, day)})
    if missing_day is not None:
        frame = frame[(day != missing_day) | (np.arange(len(t)) % 4 == 0)]
    return frame


def test_short_spans_are_drawn_whole_one_panel_per_day() -> None:
    days, total = chosen_days(rows(2, [1, 5]), 900)
    assert [d for d, _ in days] == [pd.Timestamp("2015-01-26"), pd.Timestamp("2015-01-27")]
    assert total == 2 and all(label == "" for _, label in days)


def test_long_spans_show_the_typical_and_the_worst_day() -> None:
    # six days; the worst (day 4) and the median (errors 1,2,3,5,8: 3 -> day 2) are drawn
    days, total = chosen_days(rows(6, [1, 2, 3, 9, 8, 5], missing_day=3), 900)
    assert total == 6
    assert days == [(pd.Timestamp("2015-01-28"), "typical day"),
                    (pd.Timestamp("2015-01-30"), "worst day")]  # day 3 is too sparse


def test_daily_data_is_drawn_over_the_whole_span() -> None:
    assert chosen_days(rows(6, [1, 2, 3, 4, 5, 6]), 86_400) is None
    assert chosen_days(rows(1, [1]).iloc[:0], 900) is None


def predictions(days: int = 6) -> pd.DataFrame:
    """3 series x ``days`` days x 2 horizons, lightgbm and last_value; series B is the worst."""
    origins = T0 + pd.to_timedelta(np.arange(days * PER_DAY) * 900, unit="s")
    frames = []
    for k, series in enumerate("ABC"):
        for model, scale in (("lightgbm", 1.0), ("last_value", 2.0)):
            for h in (1, 4):
                err = scale * h * (1 + (series == "B") * 3 + k * 0.1)
                sign = np.where(np.arange(len(origins)) % 2, 1.0, -1.0)
                frames.append(pd.DataFrame({
                    "series": series, "origin": origins, "horizon_steps": h,
                    "target_time": origins + pd.Timedelta(minutes=15 * h),
                    "y_true": 40.0, "y_pred": 40.0 + err * sign, "model": model}))
    return pd.concat(frames, ignore_index=True)


def test_panels_name_their_days_and_give_the_errors_by_horizon() -> None:
    ev = evaluate(predictions(), timezone="Asia/Shanghai", interval_s=900, variable="speed",
                  unit="km/h")
    assert chosen_series(ev.worst, 1) == [("B", "worst #1"), ("C", "typical: median MAE")]
    panels = series_panels(ev, 4, "last_value", 1)
    assert len(panels) == 2
    first = panels[0]
    assert first.uri.startswith("data:image/png;base64,")
    assert first.caption.startswith("B (worst #1): lightgbm 60 min ahead, 2 of its 7 test days")
    assert "km/h" in first.caption
    assert list(first.errors.columns) == ["lightgbm", "last_value"]
    assert list(first.errors.index) == [1, 4]
    np.testing.assert_allclose(first.errors.loc[4, "lightgbm"], 4 * (1 + 3 + 0.1), rtol=1e-9)
    errors = series_errors(ev, "A", ["lightgbm"])
    assert errors.loc[1, "lightgbm"] == pytest.approx(1.0)
