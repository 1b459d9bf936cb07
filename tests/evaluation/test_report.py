"""The backtest report: three files, a self-contained page, JSON and CSV that read back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.metrics import horizon_metrics
from flowcast.evaluation.predictions import validate_predictions
from flowcast.evaluation.report import ReportFiles, read_predictions, write_report

T0 = pd.Timestamp("2015-01-25T00:00", tz="UTC")
SERIES = 6
ORIGINS = 24
HORIZONS = (1, 2, 4)
TITLE = "SZ-taxi <test> & co"
META = {"dataset": "sz-taxi synthetic", "model_version": "v7", "data_hash": "sha256:abc",
        "training": {"stride": 2, "quantiles": True, "params": {"learning_rate": 0.05}},
        "folds": [{"index": 0, "origins": 23640, "rows": {"1": 12000}}], "seconds": 18.0}


def predictions() -> pd.DataFrame:
    """6 series x 24 origins x 3 horizons x 3 models; series k has noise growing with k, so
    S5 is the worst; lightgbm has intervals, and a few truths are 0 or NaN."""
    rng = np.random.default_rng(7)
    s, o, h = (a.ravel() for a in np.meshgrid(np.arange(SERIES), np.arange(ORIGINS),
                                              np.array(HORIZONS), indexing="ij"))
    truth = 40 + 10 * np.sin((o + h) / 4.0 + s)
    truth[::17] = 0.0
    truth[::29] = np.nan
    frames = []
    for model, scale in (("lightgbm", 1.0), ("last_value", 2.0), ("historical_average", 1.5)):
        pred = truth + rng.normal(0, scale * (1 + s) * np.sqrt(h))
        frame = pd.DataFrame({
            "series": np.char.add("S", s.astype(str)),
            "origin": T0 + pd.to_timedelta(o * 900, unit="s"),
            "horizon_steps": h,
            "target_time": T0 + pd.to_timedelta((o + h) * 900, unit="s"),
            "y_true": truth, "y_pred": pred, "model": model,
            "p10": pred - 2.0 if model == "lightgbm" else np.nan,
            "p90": pred + 2.0 if model == "lightgbm" else np.nan,
        })
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    out = tmp_path_factory.mktemp("report") / "nested" / "dir"
    return write_report(out, predictions(), title=TITLE, timezone="Asia/Shanghai",
                        interval_s=900, zero_is_missing=True, variable="speed", unit="km/h",
                        meta=META)


def test_the_three_files_are_written(report: ReportFiles) -> None:
    for path in (report.metrics_json, report.predictions_csv, report.report_html):
        assert path.is_file() and path.stat().st_size > 0
    assert {p.name for p in report.report_html.parent.iterdir()} == {
        "metrics.json", "predictions.csv", "report.html"}  # no temporary file left behind


def test_the_page_is_self_contained(report: ReportFiles) -> None:
    page = report.report_html.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)


def test_the_page_holds_the_title_table_and_plots(report: ReportFiles) -> None:
    page = report.report_html.read_text(encoding="utf-8")
    assert "<title>SZ-taxi &lt;test&gt; &amp; co</title>" in page
    assert "<h1>SZ-taxi &lt;test&gt; &amp; co</h1>" in page
    assert "Metrics by horizon" in page and "<table" in page
    for model in ("lightgbm", "last_value", "historical_average"):
        assert f"<td>{model}</td>" in page
    for label in ("15 min", "30 min", "60 min"):
        assert f"<td>{label}</td>" in page
    assert "lightgbm beats every baseline at every horizon." in page
    assert "sha256:abc" in page
    # error by horizon, by time of day, worst series; then the 3 worst series and the typical
    # one (the 4th of 6 by MAE, not among the worst three)
    assert page.count("<img") == 3 + 4
    assert page.count("60 min ahead") >= 4  # the series plots show the longest horizon


def test_every_table_column_and_axis_has_its_unit(report: ReportFiles) -> None:
    page = report.report_html.read_text(encoding="utf-8")
    for heading in ("MAE (km/h)", "RMSE (km/h)", "MAPE (%)", "WAPE (%)", "bias (km/h)",
                    "P10-P90 cover (%)", "width (km/h)", "lightgbm RMSE (km/h)",
                    "RMSE reduction (%)"):
        assert f">{heading}</th>" in page, heading
    assert "in km/h" in page and "|y| &lt; 1.000 km/h" in page


def test_the_about_table_is_flat_and_readable(report: ReportFiles) -> None:
    about = report.report_html.read_text(encoding="utf-8").split("About this report")[1]
    assert "{" not in about and "['" not in about  # no Python dict or list shown
    for key, value in (("training.stride", "2"), ("training.quantiles", "yes"),
                       ("training.params.learning_rate", "0.05"), ("folds[1].origins", "23,640"),
                       ("folds[1].rows.1", "12,000"), ("seconds", "18"),
                       ("variable", "speed (km/h)"), ("bucket", "15 min")):
        assert f"<td>{key}</td><td>{value}</td>" in about, key
    assert '<table class="about">' in about


def test_each_series_plot_has_its_errors_by_horizon(report: ReportFiles) -> None:
    page = report.report_html.read_text(encoding="utf-8")
    section = page.split("Forecasts against the truth")[1].split("<details>")[0]
    assert section.count("<img") == 4 and section.count("<table>") == 4
    assert section.count("<th>MAE (km/h)</th>") == 4
    assert "every day of the test span" in section  # six hours: one day, drawn whole


def test_metrics_json_round_trips_with_nan_as_null(report: ReportFiles) -> None:
    text = report.metrics_json.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    assert doc["title"] == TITLE
    assert doc["meta"] == META
    assert doc["variable"] == "speed" and doc["unit"] == "km/h"
    assert doc["protocol"]["zero_is_missing"] is True
    assert doc["horizons_steps"] == list(HORIZONS)
    assert doc["rows"] == 3 * SERIES * ORIGINS * len(HORIZONS)
    expected = horizon_metrics(predictions(), zero_is_missing=True)
    for row in doc["per_horizon"]:
        want = expected.loc[(row["model"], row["horizon_steps"])]
        assert row["n"] == want["n"]
        assert row["rmse"] == pytest.approx(want["rmse"], rel=1e-12)
        if np.isnan(want["coverage"]):
            assert row["coverage"] is None
        else:
            assert row["coverage"] == pytest.approx(want["coverage"], rel=1e-12)
    assert doc["worst_series"]["rows"][0]["series"] == "S5"
    assert [r["beats_all_baselines"] for r in doc["improvement"]] == [True] * len(HORIZONS)


def test_predictions_csv_reads_back_equal(report: ReportFiles) -> None:
    pd.testing.assert_frame_equal(read_predictions(report.predictions_csv),
                                  validate_predictions(predictions()))
    plain = pd.read_csv(report.predictions_csv)
    assert list(plain.columns) == ["series", "origin", "horizon_steps", "target_time",
                                   "y_true", "y_pred", "p10", "p90", "model"]
    assert plain["origin"].iloc[0] == "2015-01-25T00:00:00Z"


def test_a_report_with_only_baselines_and_no_intervals(tmp_path: Path) -> None:
    df = predictions()
    df = df[df["model"] != "lightgbm"].drop(columns=["p10", "p90"])
    files = write_report(tmp_path, df, title="baselines", meta={}, timezone="UTC",
                         interval_s=900, plot_horizon=1, n_series_plots=1)
    page = files.report_html.read_text(encoding="utf-8")
    assert "Only baselines were scored" in page
    assert "P10-P90" not in page.split("<h2>Error by horizon</h2>")[0]  # no interval columns
    assert page.count("<img") == 3 + 2  # the worst series and the typical one
    assert json.loads(files.metrics_json.read_text())["model"] is None


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(FlowcastUserError, match="is not a directory"):
        write_report(a_file, predictions(), title="t", meta={}, timezone="UTC", interval_s=900)
    with pytest.raises(FlowcastUserError, match="plot_horizon 3 is not among"):
        write_report(tmp_path / "r", predictions(), title="t", meta={}, timezone="UTC",
                     interval_s=900, plot_horizon=3)
    with pytest.raises(FlowcastUserError, match="no rows"):
        write_report(tmp_path / "r", predictions().iloc[:0], title="t", meta={},
                     timezone="UTC", interval_s=900)
    assert not (tmp_path / "r").exists()  # a refused report leaves nothing behind
    with pytest.raises(FlowcastUserError, match="does not exist"):
        read_predictions(tmp_path / "missing.csv")


def test_metrics_json_agrees_with_plain_pandas_on_predictions_csv(report: ReportFiles) -> None:
    """The recipe of docs/backtest-report.md, on the written files only."""
    df = pd.read_csv(report.predictions_csv, dtype={"series": str, "model": str})
    doc = json.loads(report.metrics_json.read_text(encoding="utf-8"))
    floor = doc["protocol"]["mape_floor"]
    scored = df["y_true"].notna() & df["y_pred"].notna() & (df["y_true"] != 0)
    d = df[scored].assign(abs_e=lambda x: (x["y_pred"] - x["y_true"]).abs())
    g = d.groupby(["model", "horizon_steps"])
    mape = d[d["y_true"].abs() >= floor].assign(
        ape=lambda x: x["abs_e"] / x["y_true"].abs()).groupby(["model", "horizon_steps"])["ape"]
    for row in doc["per_horizon"]:
        key = (row["model"], row["horizon_steps"])
        assert row["n"] == g.size()[key]
        assert row["mae"] == pytest.approx(g["abs_e"].mean()[key], rel=1e-12)
        assert row["wape"] == pytest.approx(
            g["abs_e"].sum()[key] / g["y_true"].sum()[key], rel=1e-12)
        assert row["mape"] == pytest.approx(mape.mean()[key], rel=1e-12)
