"""The model directory: save/load round trip predicts identically, model.json holds what the
engine and the reports need, and a mismatched or damaged model is refused with a clear message."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from formats.booster_damage import absurd_leaf_count, damage, huge_leaves, truncated

from flowcast.errors import FlowcastUserError
from flowcast.formats.dataset import make_series_dataset
from flowcast.formats.model_city import city_binding
from flowcast.models.roads.artifact import (
    MODEL_FILE,
    ModelError,
    booster_file,
    load_model,
    read_model_json,
    record_backtest,
    save_model,
)
from flowcast.models.roads.feature_history import FeatureHistory
from flowcast.models.roads.feature_spec import FeatureSpec
from flowcast.models.roads.forecaster import RoadForecaster
from flowcast.models.roads.matrices import training_matrix
from flowcast.models.roads.training import TrainConfig, road_history, train_road_model

BUCKET_S = 900
TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def trained() -> tuple[RoadForecaster, FeatureHistory]:
    rng = np.random.default_rng(4)
    t = 3 * 96
    speed = (40 + 10 * np.sin(np.arange(t) * 2 * np.pi / 96)[None, :]
             + rng.normal(0, 2, (3, t))).astype(np.float32)
    roads = make_series_dataset("sensor", ["A", "B", "C"],
                                pd.date_range("2025-05-05", periods=t, freq="15min", tz=TZ),
                                {"speed": speed}, {"speed": "km/h"}, interval_s=BUCKET_S)
    history = road_history(roads)
    spec = FeatureSpec.for_bucket(BUCKET_S, horizons=(1, 2))
    config = TrainConfig(horizons=(1, 2), max_rounds=30, threads=1, zero_is_missing=True)
    return train_road_model(history, spec, config, progress=False).model, history


@pytest.fixture
def saved(trained: tuple, tmp_path: Path) -> Path:
    model, _ = trained
    return save_model(model, tmp_path / "model",
                      training={"data_hash": "sha256:abc", "last_bucket": "2025-05-07T15:45:00Z"},
                      metrics={"validation": [{"model": "lightgbm", "rmse": 1.5}]})


def test_round_trip_predicts_identically(trained: tuple, saved: Path) -> None:
    model, history = trained
    x, _, _ = training_matrix(history, model.spec, model.horizons)
    before = model.predict_rows(x)
    loaded = load_model(saved, bucket_s=BUCKET_S, target="speed")
    after = loaded.predict_rows(x)
    np.testing.assert_array_equal(after.y, before.y)
    np.testing.assert_array_equal(after.p10, before.p10)
    np.testing.assert_array_equal(after.p90, before.p90)
    assert loaded.spec == model.spec and loaded.horizons == model.horizons
    assert loaded.zero_is_missing and loaded.version == model.version
    # the calibrated interval margins travel in model.json
    assert set(loaded.interval_margin) == {1, 2}
    assert loaded.interval_margin == pytest.approx(model.interval_margin)


def test_model_json_says_what_the_model_is(saved: Path) -> None:
    doc = json.loads((saved / MODEL_FILE).read_text(encoding="utf-8"))
    assert doc["format"] == "flowcast-road-model" and doc["format_version"] == 1
    assert doc["target"] == "speed" and doc["bucket_s"] == BUCKET_S
    assert doc["horizons_steps"] == [1, 2] and doc["horizons_min"] == [15, 30]
    assert doc["quantiles"] == [0.1, 0.9] and doc["zero_is_missing"] is True
    assert doc["feature_spec"]["kind"] == "flowcast.features"
    assert doc["feature_names"] == FeatureSpec.from_dict(doc["feature_spec"]).names
    assert doc["training"]["data_hash"] == "sha256:abc"
    assert doc["metrics"]["validation"][0]["rmse"] == 1.5
    assert set(doc["libraries"]) == {"flowcast", "lightgbm", "numpy"}
    assert doc["version"].startswith(doc["created"][:4]) and len(doc["version"]) == 27
    files = sorted(p.name for p in saved.iterdir())
    assert files == sorted([MODEL_FILE, *(booster_file(h, k) for h in (1, 2)
                                          for k in ("mean", "p10", "p90"))])
    text = (saved / booster_file(1, "mean")).read_text(encoding="utf-8")
    assert text.startswith("tree\n")  # LightGBM's own text format, no pickle


def _edit(saved: Path, change: dict) -> None:
    doc = json.loads((saved / MODEL_FILE).read_text(encoding="utf-8"))
    for key, value in change.items():
        target = doc
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    (saved / MODEL_FILE).write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize(("change", "message"), [
    ({"feature_spec.version": 99}, "unusable feature spec .*version 99.*re-train"),
    ({"feature_spec.colour": "red"}, "unknown feature spec key 'colour'"),
    ({"format_version": 2}, "model format version 2; this flowcast reads up to 1"),
    ({"format": "something-else"}, "is not a flowcast road model"),
    ({"feature_names": ["a"]}, "feature names do not match its feature spec"),
])
def test_incompatible_model_json_is_refused(saved: Path, change: dict, message: str) -> None:
    _edit(saved, change)
    with pytest.raises(ModelError, match=message):
        load_model(saved)


def test_wrong_bucket_or_target_is_refused(saved: Path) -> None:
    with pytest.raises(ModelError, match="trained on 900 s buckets, the data has 300 s"):
        load_model(saved, bucket_s=300)
    with pytest.raises(ModelError, match="forecasts speed, not flow"):
        load_model(saved, target="flow")


def test_corrupt_json_is_refused(saved: Path) -> None:
    (saved / MODEL_FILE).write_text('{"format": "flowcast-road-model", ', encoding="utf-8")
    with pytest.raises(ModelError, match=r"is corrupt: not valid JSON at line 1"):
        load_model(saved)


def test_missing_or_altered_booster_file_is_refused(saved: Path) -> None:
    victim = saved / booster_file(2, "p90")
    text = victim.read_text(encoding="utf-8")
    victim.write_text(text.replace("tree", "tree ", 1), encoding="utf-8")
    with pytest.raises(ModelError, match="does not match its checksum"):
        load_model(saved)
    victim.unlink()
    with pytest.raises(ModelError, match=f"missing its booster file {victim.name}"):
        load_model(saved)


def test_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist or is not a directory"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelError, match=r"holds no model\.json"):
        load_model(tmp_path)
    assert issubclass(ModelError, FlowcastUserError)  # the CLI turns it into exit 2


def test_save_never_replaces_a_foreign_directory(trained: tuple, saved: Path,
                                                 tmp_path: Path) -> None:
    model, _ = trained
    with pytest.raises(ModelError, match="already exists; add --force"):
        save_model(model, saved)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(ModelError, match="not a model directory; it is never replaced"):
        save_model(model, other, overwrite=True)
    assert (other / "cat.jpg").exists()
    save_model(model, saved, overwrite=True)  # a model directory is replaced
    assert load_model(saved).horizons == (1, 2)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_record_backtest_keeps_a_summary(saved: Path) -> None:
    record_backtest(saved, {"protocol": "tgcn", "rmse": float("nan")})
    record_backtest(saved, {"protocol": "standard"})
    doc = read_model_json(saved)
    assert [b["protocol"] for b in doc["metrics"]["backtests"]] == ["tgcn", "standard"]
    assert doc["metrics"]["backtests"][0]["rmse"] is None
    assert doc["metrics"]["validation"][0]["rmse"] == 1.5
    load_model(saved)  # still loads: the boosters are untouched


# ----- a damaged booster never reaches this process; a model is bound to its city ----------

@pytest.mark.parametrize(("change", "reason"), [
    (truncated, r"h001_mean\.txt is damaged: it is cut short"),
    (absurd_leaf_count, r"h001_mean\.txt crashed LightGBM in a test process \(SIGABRT"),
    (huge_leaves, r"h001_mean\.txt failed its probe .*not finite"),
])
def test_a_broken_booster_with_a_matching_checksum_is_refused(saved: Path, change,
                                                               reason: str) -> None:
    """The checksum is rewritten after the damage: only the structure check and the probe in
    a child process stop it (loading it here would abort or segfault the test process)."""
    damage(saved, booster_file(1, "mean"), change)
    with pytest.raises(ModelError, match=reason):
        load_model(saved)


def test_a_model_is_bound_to_its_city(trained: tuple, tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    model, _ = trained
    hangzhou = SimpleNamespace(name="Hangzhou", segment_ids=["G1"], sensor_ids=["A", "B", "C"])
    chengdu = SimpleNamespace(name="Chengdu", segment_ids=["G9"], sensor_ids=["A", "B", "C"])
    path = save_model(model, tmp_path / "model", city=hangzhou)
    assert read_model_json(path)["city"] == city_binding(hangzhou)
    assert load_model(path, city=hangzhou).version == model.version
    with pytest.raises(ModelError, match=r"trained for city 'Hangzhou', this engine runs city "
                                         r"'Chengdu'"):
        load_model(path, city=chengdu)
    unbound = save_model(model, tmp_path / "old")  # as trained before models had a city
    assert "city" not in read_model_json(unbound)
    with caplog.at_level(logging.WARNING, logger="flowcast.model"):
        assert load_model(unbound, city=chengdu).version == model.version
    assert "records no city" in caplog.text
