"""``flowcast replay`` through the real CLI entry point: the report it writes for a chosen span,
and exit 2 with one line for every mistake a user can make."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowcast.cli import main
from flowcast.evaluation.report import read_predictions
from flowcast.formats.dataset import FlowDataset, load_dataset, save_dataset
from flowcast.ingest.simulator import generate_city, simulate_history
from flowcast.models.roads.artifact import save_model
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.training import TrainConfig, road_history, train_road_model

TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 sensors x 2 days of 5-min buckets, with the city file."""
    city = generate_city(24, 1, seed=7)
    data = simulate_history(city, dt.datetime(2026, 10, 5, tzinfo=TZ), days=2, seed=7,
                            progress=False)
    return save_dataset(data, tmp_path_factory.mktemp("cli") / "city")


@pytest.fixture(scope="module")
def model_dir(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained on the whole dataset (so a replay of it is in-sample)."""
    roads = load_dataset(dataset).roads
    spec = FeatureSpec.for_bucket(300, "speed", (3, 6))
    config = TrainConfig(horizons=(3, 6), max_rounds=5, early_stopping=3, quantiles=False,
                         threads=1)
    result = train_road_model(road_history(roads), spec, config, progress=False)
    last = pd.Timestamp(roads["time"].values[-1], tz="UTC").isoformat()
    return save_model(result.model, tmp_path_factory.mktemp("cli") / "model",
                      training={"last_bucket": last, "config": config.to_dict()})


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr of a failed command: exactly one line, starting with 'error:', no traceback."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def test_replay_of_a_span_writes_the_report(dataset: Path, model_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report"
    code = main(["replay", str(dataset), "--model", str(model_dir), "--report", str(report),
                 "--from", "2026-10-06T12:00", "--until", "2026-10-06T14:00",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "readings/s" in out and "in-sample" in out
    table = read_predictions(report / "predictions.csv")
    own = table[table["model"] == "lightgbm"]
    # local times (+08:00): issue times 12:00 .. 14:00 inclusive, every 5 minutes
    origins = sorted(own["origin"].unique())
    assert origins[0] == pd.Timestamp("2026-10-06T04:00Z")
    assert origins[-1] == pd.Timestamp("2026-10-06T06:00Z")
    assert len(origins) == 25
    assert set(own["horizon_steps"]) == {3, 6}
    assert (own["target_time"] - own["origin"] == own["horizon_steps"] * pd.Timedelta(
        "5min")).all()
    doc = json.loads((report / "metrics.json").read_text())
    assert doc["meta"]["series"].startswith("segments")
    assert (report / "report.html").read_text().startswith("<!")
    # the replay's scores travel with the model, beside its backtests
    recorded = json.loads((model_dir / "model.json").read_text())["metrics"]["backtests"][-1]
    assert recorded["kind"] == "replay" and recorded["report"] == str(report.resolve())
    assert {r["horizon_steps"] for r in recorded["per_horizon"]} >= {3, 6}


@pytest.mark.parametrize(("args", "words"), [
    ([], "--model MODEL_DIR"),
    (["--model", "{model}"], "--report DIR"),
    (["--model", "{tmp}/nothing", "--report", "{tmp}/r"], "does not exist"),
    (["--model", "{model}", "--report", "{tmp}/r", "--test-fraction", "0.2", "--from",
      "2026-10-06T12:00"], "not both"),
    (["--model", "{model}", "--report", "{tmp}/r", "--test-fraction", "1.5"], "between 0"),
    (["--model", "{model}", "--report", "{tmp}/r", "--test-fraction", "0.999"],
     "before the test span"),
    (["--model", "{model}", "--report", "{tmp}/r", "--test-fraction", "0.001"],
     "longest horizon"),
    (["--model", "{model}", "--report", "{tmp}/r", "--from", "soon"], "ISO 8601"),
    (["--model", "{model}", "--report", "{tmp}/r", "--from", "2030-01-01T00:00"],
     "no forecast issue time"),
    (["--model", "{model}", "--report", "{tmp}/r", "--from", "2026-10-05T00:30"],
     "buckets of history"),
])
def test_mistakes_are_one_line_errors(args: list[str], words: str, dataset: Path,
                                      model_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    filled = [a.format(model=model_dir, tmp=tmp_path) for a in args]
    assert main(["replay", str(dataset), *filled]) == 2
    assert words in one_error_line(capsys)


def test_a_missing_dataset_is_named(model_dir: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "gone"), "--model", str(model_dir), "--report",
                 str(tmp_path / "r")]) == 2
    assert "does not exist" in one_error_line(capsys)


def test_a_model_for_other_buckets_is_refused(dataset: Path, model_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = load_dataset(dataset)
    coarse = data.roads.coarsen(time=3).mean(keep_attrs=True)
    coarse.attrs["interval_s"] = 900
    path = save_dataset(FlowDataset(roads=coarse, city_geojson=data.city_geojson),
                        tmp_path / "coarse")
    assert main(["replay", str(path), "--model", str(model_dir), "--report",
                 str(tmp_path / "r")]) == 2
    line = one_error_line(capsys)
    assert "300 s" in line and "900 s" in line
    assert not (tmp_path / "r").exists()


def test_a_dataset_without_its_city_is_refused(dataset: Path, model_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = save_dataset(FlowDataset(roads=load_dataset(dataset).roads), tmp_path / "bare")
    assert main(["replay", str(path), "--model", str(model_dir), "--report",
                 str(tmp_path / "r")]) == 2
    assert "city.geojson" in one_error_line(capsys)


def test_sensor_values_reach_the_report_truth(dataset: Path, model_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The truth of a one-sensor segment is that sensor's speed at the target bucket."""
    report = tmp_path / "report"
    assert main(["replay", str(dataset), "--model", str(model_dir), "--report", str(report),
                 "--from", "2026-10-06T20:00", "--until", "2026-10-06T20:30",
                 "--no-progress"]) == 0
    capsys.readouterr()
    roads = load_dataset(dataset).roads
    counts = pd.Series(roads["segment"].values).value_counts()
    segment = str(counts[counts == 1].index[0])
    sensor = str(roads["sensor"].values[list(roads["segment"].values).index(segment)])
    table = read_predictions(report / "predictions.csv")
    rows = table[(table["model"] == "lightgbm") & (table["series"] == segment)]
    start = rows["target_time"] - pd.Timedelta("5min")
    truth = roads["speed"].sel(sensor=sensor, time=start.dt.tz_localize(None).values).values
    np.testing.assert_allclose(rows["y_true"].values, truth, rtol=1e-6)
