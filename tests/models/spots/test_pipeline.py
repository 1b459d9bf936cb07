"""``flowcast train`` on a dataset with scenic spots: the spot model is trained beside the road
model (MODEL_DIR/spots), its validation printed beside seasonal naive and last value;
``--no-spots`` skips it; opening hours come from the city file, or are read off the data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from spot_harness import HORIZONS, spot_data

from flowcast.cli import main
from flowcast.formats.city_write import city_to_geojson
from flowcast.formats.dataset import FlowDataset, make_series_dataset, save_dataset
from flowcast.models.spots.artifact import load_spot_model
from flowcast.models.spots.pipeline import hours_from_data

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of a 2-sensor road series, six weeks of six spots, and the city file."""
    rng = np.random.default_rng(0)
    t = 2 * 96
    speed = (45 + 12 * np.sin(np.arange(t) * 2 * np.pi / 96)[None, :]
             + rng.normal(0, 2, (2, t))).astype(np.float32)
    roads = make_series_dataset(
        "sensor", ["S1", "S2"], pd.date_range("2026-09-01", periods=t, freq="15min", tz=TZ),
        {"speed": speed}, {"speed": "km/h"}, interval_s=900, timezone=TZ)
    data = spot_data()
    path = tmp_path_factory.mktemp("data") / "city"
    return save_dataset(FlowDataset(roads=roads, spots=data.spots,
                                    city_geojson=json.dumps(city_to_geojson(data.city))), path)


def _train(dataset: Path, out: Path, *extra: str) -> int:
    return main(["train", str(dataset), "--out", str(out), "--horizons", "15,30",
                 "--no-quantiles", "--threads", "1", "--max-trees", "30", "--learning-rate",
                 "0.2", "--stride", "2", *extra])


def test_train_writes_the_spot_model_and_prints_its_validation(
        dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    assert _train(dataset, out) == 0
    printed = capsys.readouterr().out
    assert "spot model validation tail" in printed
    lines = [line.split() for line in printed.splitlines()]
    rows = [r for r in lines if len(r) == 7 and r[0] in {"60", "120", "180", "240", "360",
                                                         "480"}]
    assert [r[0] for r in rows] == ["60", "120", "180", "240", "360", "480"]
    for r in rows:  # the model's MAE beats seasonal naive's on the validation tail
        assert float(r[2]) < float(r[3]), r
    model = load_spot_model(out / "spots", bucket_s=900, horizons=HORIZONS)
    assert f"spot model {model.version} -> {out / 'spots'}" in printed
    training = model.info["training"]
    assert training["opening_hours_from"] == "city.geojson"
    assert training["data_hash"].startswith("sha256:") and training["spots"] == 6
    assert training["config"]["params"]["learning_rate"] == 0.2
    validation = model.info["metrics"]["validation"]
    assert [v["horizon_min"] for v in validation] == [60, 120, 180, 240, 360, 480]
    assert set(validation[0]["mae"]) == {"lightgbm", "seasonal_naive", "last_value"}
    assert not model.has_intervals


def test_no_spots_trains_the_road_model_only(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert _train(dataset, out, "--no-spots") == 0
    assert (out / "model.json").is_file() and not (out / "spots").exists()


def test_opening_hours_read_off_the_data_match_the_city() -> None:
    data = spot_data()
    opens, closes = hours_from_data(data.series)
    np.testing.assert_array_equal(opens, data.city.spot_opens_min)
    np.testing.assert_array_equal(closes, data.city.spot_closes_min)


def test_too_short_a_spot_history_skips_the_spot_model(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """Three simulated days: the road model is trained, the spot model is not (seasonal naive
    serves better than a model that never saw its last-week features)."""
    import datetime as dt

    from flowcast.ingest.simulator import generate_city, simulate_history

    city = generate_city(30, 2, seed=1)
    start = dt.datetime(2026, 9, 29, tzinfo=city.zone)
    save_dataset(simulate_history(city, start, 3, seed=1, progress=False), tmp_path / "d")
    code = main(["train", str(tmp_path / "d"), "--out", str(tmp_path / "m"), "--max-trees", "20",
                 "--no-quantiles"])
    assert code == 0
    assert "spot model skipped: the dataset has 3.0 days" in capsys.readouterr().out
    assert (tmp_path / "m" / "model.json").exists()
    assert not (tmp_path / "m" / "spots").exists()
