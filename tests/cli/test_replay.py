"""``flowcast replay`` through the real CLI entry point: the report it writes for a chosen span,
the model directory left alone unless ``--record``, exit 2 with one line for every mistake a
user can make (found before anything heavy is loaded), and imported SZ-taxi data replayed with
the city ``flowcast import --city-out`` made for it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_harness import one_error_line

import flowcast.cli.replay as replay_command
from flowcast.cli import main
from flowcast.evaluation.report import read_predictions
from flowcast.formats.dataset import FlowDataset, load_dataset, save_dataset
from flowcast.ingest.simulator import generate_city, simulate_history
from flowcast.models.roads.artifact import save_model
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.training import TrainConfig, road_history, train_road_model

TZ = dt.timezone(dt.timedelta(hours=8))
SZ = Path(__file__).resolve().parents[3] / "shared" / "data" / "sz-taxi" / "ye11qing-subset40"


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
    assert doc["meta"]["model"].endswith("as served by the streaming engine")
    assert doc["title"].startswith("Replay of simulated city ")
    assert (report / "report.html").read_text().startswith("<!")


def test_the_model_is_only_read_unless_record(dataset: Path, model_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    before = (model_dir / "model.json").read_bytes()
    span = ["--from", "2026-10-06T12:00", "--until", "2026-10-06T12:30", "--no-progress"]
    assert main(["replay", str(dataset), "--model", str(model_dir), "--report",
                 str(tmp_path / "a"), *span]) == 0
    assert "add --record to keep these scores" in capsys.readouterr().out
    assert (model_dir / "model.json").read_bytes() == before
    report = tmp_path / "b"
    assert main(["replay", str(dataset), "--model", str(model_dir), "--report", str(report),
                 *span, "--record"]) == 0
    assert "recorded in" in capsys.readouterr().out
    recorded = json.loads((model_dir / "model.json").read_text())["metrics"]["backtests"][-1]
    assert recorded["kind"] == "replay" and recorded["report"] == str(report.resolve())
    assert recorded["dataset"] == str(dataset.resolve())
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
    line = one_error_line(capsys)
    assert "has no city.geojson" in line and "--city-out" in line


@pytest.mark.parametrize(("case", "words"), [
    ("no model", "does not exist or is not a directory"),
    ("not a model", "holds no model.json"),
    ("no dataset", "does not exist; create one"),
    ("no roads", "holds no road series"),
    ("no city", "has no city.geojson"),
    ("report is a file", "exists and is not a directory; choose another --report"),
])
def test_paths_are_checked_before_anything_is_loaded(
        case: str, words: str, dataset: Path, model_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def never(*_: object, **__: object) -> None:
        raise AssertionError("the dataset was loaded before the arguments were checked")

    monkeypatch.setattr(replay_command, "load_dataset", never)
    monkeypatch.setattr(replay_command.ModelHolder, "roads", never)
    data, model, report = dataset, model_dir, tmp_path / "r"
    if case == "no model":
        model = tmp_path / "nowhere"
    elif case == "not a model":
        model = tmp_path
    elif case == "no dataset":
        data = tmp_path / "gone"
    elif case == "no roads":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "no city":
        data = tmp_path / "bare"
        data.mkdir()
        (data / "roads.nc").write_bytes((dataset / "roads.nc").read_bytes())
    else:
        report.write_text("a file", encoding="utf-8")
    assert main(["replay", str(data), "--model", str(model), "--report", str(report)]) == 2
    assert words in one_error_line(capsys)


# ----- imported real data: SZ-taxi with the city `flowcast import --city-out` makes ----------

@pytest.fixture(scope="module")
def sz_imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The first 9 days of the real SZ-taxi subset (40 roads, 15-min buckets) imported with
    its adjacency and a city, zeros as no data; and the CSV's sensor ids."""
    root = tmp_path_factory.mktemp("sz")
    lines = (SZ / "sz_speed.csv").read_text(encoding="utf-8").splitlines()
    head = root / "sz_speed.csv"
    head.write_text("\n".join(lines[:1 + 9 * 96]) + "\n", encoding="utf-8")
    out = root / "sz"
    assert main(["import", str(head), "--adjacency", str(SZ / "sz_adj.csv"),
                 "--zero-is-missing", "--city-out", str(root / "sz-city.geojson"),
                 "--out", str(out)]) == 0
    return out, lines[0].split(",")[1:]


def test_imported_sz_taxi_replays_with_its_minimal_city(
        sz_imported: tuple[Path, list[str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    dataset, sensors = sz_imported
    model = tmp_path / "model"
    assert main(["train", str(dataset), "--out", str(model), "--horizons", "15,30",
                 "--no-quantiles", "--max-trees", "5", "--threads", "1"]) == 0
    before = (model / "model.json").read_bytes()
    report = tmp_path / "replay"
    assert main(["replay", str(dataset), "--model", str(model), "--report", str(report),
                 "--from", "2015-01-09T08:00", "--until", "2015-01-09T09:00",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert (model / "model.json").read_bytes() == before
    doc = json.loads((report / "metrics.json").read_text())
    assert doc["meta"]["stream"]["deadletters"] == {} and doc["meta"]["fallback_rows"] == 0
    assert doc["unit"] == "km/h" and doc["title"] == "Replay of sz_speed.csv (imported)"
    table = read_predictions(report / "predictions.csv")
    own = table[table["model"] == "lightgbm"]
    # one segment per sensor, named as the CSV names the sensor: every one is published
    assert set(own["series"]) == set(sensors)
    assert len(own["origin"].unique()) == 5  # 08:00 .. 09:00 local, every 15 minutes
    roads = load_dataset(dataset).roads
    start = (own["target_time"] - pd.Timedelta("15min")).dt.tz_localize(None).to_numpy()
    truth = np.array([roads["speed"].sel(sensor=s, time=t).item()
                      for s, t in zip(own["series"], start, strict=True)])
    np.testing.assert_allclose(own["y_true"].to_numpy(), truth, rtol=1e-6)


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
