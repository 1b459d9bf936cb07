"""``flowcast backtest`` through the real CLI entry point: the files it writes, what it says it
scored (a model retrained per fold from a model's settings, or that model as-is), the model
directory left alone unless ``--record``, and exit 2 with one line for every bad argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xarray as xr
from cli_harness import one_error_line, write_speed_dataset

from flowcast.cli import main
from flowcast.evaluation.predictions import PREDICTION_COLUMNS
from flowcast.evaluation.report import read_predictions
from flowcast.formats.dataset import FlowDataset, save_dataset
from flowcast.models.roads.artifact import load_model, read_model_json


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_speed_dataset(tmp_path_factory.mktemp("data") / "roads",
                               title="Four test roads, June 2025")


@pytest.fixture(scope="module")
def model_dir(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "full"
    assert main(["train", str(dataset), "--out", str(out), "--horizons", "15,30",
                 "--no-quantiles", "--threads", "1", "--max-trees", "20",
                 "--zero-is-missing"]) == 0
    return out


# ----- success ------------------------------------------------------------------------------

def test_backtest_writes_the_report_files(dataset: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report"
    assert main(["backtest", str(dataset), "--report", str(report), "--folds", "2",
                 "--horizons", "15,60", "--no-quantiles", "--threads", "1",
                 "--max-trees", "20"]) == 0
    printed = capsys.readouterr().out
    assert "trained per fold on the data before each fold's first origin" in printed
    assert "per horizon (zeros scored as values)" in printed and "60 min" in printed
    assert "MAE, RMSE, bias in km/h; MAPE, WAPE in %" in printed
    doc = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert doc["model"] == "lightgbm" and doc["horizons_steps"] == [1, 4]
    assert doc["meta"]["model_mode"] == "trained" and len(doc["meta"]["folds"]) == 2
    assert doc["title"] == "Backtest of Four test roads, June 2025"
    assert doc["variable"] == "speed" and doc["unit"] == "km/h"
    assert "profile_persistence" in doc["baselines"]
    table = read_predictions(report / "predictions.csv")
    assert list(table.columns[:6]) == list(PREDICTION_COLUMNS) and "fold" in table
    page = (report / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>Backtest of Four test roads, June 2025</h1>" in page
    assert "MAE (km/h)" in page and "{" not in page.split("About this report")[1]


def test_backtest_tgcn_protocol_prints_the_pooled_table(
        dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "tgcn"
    assert main(["backtest", str(dataset), "--report", str(report), "--protocol", "tgcn",
                 "--horizons", "30", "--zero-is-missing", "--no-quantiles",
                 "--threads", "1", "--max-trees", "20"]) == 0
    printed = capsys.readouterr().out
    assert "T-GCN protocol (steps 1..h pooled, zeros kept)" in printed
    doc = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert doc["horizons_steps"] == [1, 2]  # every step up to 30 min
    assert doc["protocol"]["zero_is_missing"] is False  # T-GCN scores the zeros
    assert doc["meta"]["zeros_in_inputs"] == "missing"


def test_a_model_retrained_per_fold_is_said_so_and_not_recorded(
        dataset: Path, model_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = (model_dir / "model.json").read_bytes()
    version = load_model(model_dir).version
    report = tmp_path / "retrained"
    assert main(["backtest", str(dataset), "--model", str(model_dir), "--report",
                 str(report)]) == 0
    printed = capsys.readouterr().out
    assert (f"model: LightGBM retrained per fold from the settings of {model_dir} (version "
            f"{version})") in printed
    assert "That model itself is not scored" in printed
    assert "add --record to keep these scores" in printed
    assert (model_dir / "model.json").read_bytes() == before  # only read
    doc = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    meta = doc["meta"]
    assert meta["model_mode"] == "retrained per fold"
    assert "model_version" not in meta  # no claim that this version was scored
    assert meta["settings_from"] == {"model_dir": str(model_dir), "model_version": version}
    assert meta["model"].startswith("LightGBM retrained per fold from the settings of")
    assert meta["training"]["zero_is_missing"] is True  # the model's own settings
    assert doc["protocol"]["zero_is_missing"] is True
    assert meta["folds"][0]["model_version"] != version  # each fold trains its own model
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "<b>Model:</b> LightGBM retrained per fold from the settings of" in page
    assert "settings_from.model_version" in page


def test_record_keeps_the_scores_in_model_json(dataset: Path, model_dir: Path,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "recorded"
    assert main(["backtest", str(dataset), "--model", str(model_dir), "--report",
                 str(report), "--record"]) == 0
    assert "recorded in" in capsys.readouterr().out
    recorded = read_model_json(model_dir)["metrics"]["backtests"][-1]
    assert recorded["model_mode"] == "retrained per fold"
    assert recorded["dataset"] == str(dataset.resolve())
    assert recorded["report"] == str(report.resolve())


def test_a_model_trained_before_the_test_span_is_evaluated_as_is(
        dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roads = xr.open_dataset(dataset / "roads.nc", engine="h5netcdf").load()
    early = save_dataset(FlowDataset(roads=roads.isel(time=slice(0, 4 * 96))),
                         tmp_path / "early")
    model = tmp_path / "early-model"
    assert main(["train", str(early), "--out", str(model), "--horizons", "15,30",
                 "--no-quantiles", "--threads", "1", "--max-trees", "20"]) == 0
    capsys.readouterr()
    report = tmp_path / "as-is"
    assert main(["backtest", str(dataset), "--model", str(model), "--report", str(report),
                 "--test-fraction", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert "evaluated as-is: its training ended at 2025-06-05T15:45:00Z" in printed
    doc = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert doc["meta"]["model_mode"] == "as-is"
    assert doc["meta"]["model_version"] == load_model(model).version


# ----- user errors: exit 2, one line ------------------------------------------------------------

@pytest.fixture(scope="module")
def five_minute(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_speed_dataset(tmp_path_factory.mktemp("five") / "roads", days=2, interval_min=5)


BACKTEST_ERRORS = [
    ([], "say where to write the report: --report DIR"),
    (["--report", "{tmp}/r", "--test-fraction", "0"],
     "--test-fraction must be between 0 and 1 (exclusive), got 0"),
    (["--report", "{tmp}/r", "--test-fraction", "1.5"], "between 0 and 1 (exclusive), got 1.5"),
    (["--report", "{tmp}/r", "--test-fraction", "most"], "--test-fraction must be a number"),
    (["--report", "{tmp}/r", "--folds", "0"], "--folds must be at least 1, got 0"),
    (["--report", "{tmp}/r", "--horizons", "2160"], "longest horizon (144 buckets = 2160 min) "
                                                    "is longer than the test span"),
    (["--report", "{tmp}/r", "--horizons", "25"], "not a positive multiple"),
    (["--report", "{tmp}/r", "--protocol", "tgcn", "--folds", "2"], "single 80/20 split"),
    (["--report", "{tmp}/r", "--protocol", "arima"], "--protocol must be one of"),
    (["--report", "{tmp}/r", "--model", "{tmp}/no-model"], "does not exist or is not a "
                                                          "directory"),
    (["--report", "{tmp}/r", "--record"], "--record keeps the scores in a model's model.json"),
    (["--report", "{tmp}/a-file"], "exists and is not a directory; choose another --report"),
]


@pytest.mark.parametrize(("args", "message"), BACKTEST_ERRORS)
def test_backtest_user_errors(dataset: Path, tmp_path: Path, args: list[str], message: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("not a report", encoding="utf-8")
    argv = ["backtest", str(dataset), *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    assert main(argv) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_backtest_bad_datasets(tmp_path: Path, no_time_axis: Path, five_minute: Path,
                               model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = str(tmp_path / "r")
    assert main(["backtest", str(tmp_path / "nothing"), "--report", report]) == 2
    assert "does not exist" in one_error_line(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["backtest", str(tmp_path / "empty"), "--report", report]) == 2
    assert "holds no road series" in one_error_line(capsys)
    assert main(["backtest", str(no_time_axis), "--report", report]) == 2
    assert "has no 'time' axis" in one_error_line(capsys)
    assert main(["backtest", str(five_minute), "--model", str(model_dir),
                 "--report", report]) == 2
    assert "trained on 900 s buckets, the data has 300 s buckets" in one_error_line(capsys)
