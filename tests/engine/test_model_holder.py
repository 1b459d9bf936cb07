"""Models that cannot kill the engine: a version whose booster is truncated or absurd (its
checksum rewritten to match) or that was trained for another city is refused on hot reload while
the old model keeps serving, and at start-up ``flowcast run --model`` exits 2 with one line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_harness import small_city
from formats.booster_damage import absurd_leaf_count, damage, truncated

from flowcast.engine.model_holder import ModelHolder
from flowcast.evaluation.training_run import TrainRun, train_dataset
from flowcast.formats.city_write import save_city
from flowcast.formats.dataset import save_dataset
from flowcast.formats.model_city import city_binding
from flowcast.formats.model_dir import ModelError, booster_file
from flowcast.ingest.simulator import simulate_history

START = dt.datetime(2026, 10, 12, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
BUCKET_S = 300
FAILURES = "flowcast_model_load_failures_total"


@pytest.fixture(scope="module")
def city() -> Any:
    return small_city(sensors=12, spots=0)


@pytest.fixture(scope="module")
def trained(city: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny road model trained by ``train_dataset`` on a simulated dataset with a city."""
    work = tmp_path_factory.mktemp("holder")
    dataset = save_dataset(simulate_history(city, START, days=2, seed=3, progress=False),
                           work / "dataset")
    run = TrainRun(dataset, work / "model", horizons_min=(15, 30), quantiles=False,
                   spots=False, lightgbm={"threads": 1, "max_rounds": 20})
    train_dataset(run, say=lambda line: None, progress=False)
    return run.out


@pytest.fixture
def live(trained: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "live"))


def _other_city(model_dir: Path, version: str) -> None:
    doc_path = model_dir / "model.json"
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    doc["city"] = {"name": "Chengdu", "ids_sha256": "0" * 64}
    doc["version"] = version
    doc_path.write_text(json.dumps(doc), encoding="utf-8")


def test_training_binds_the_model_to_its_city(trained: Path, city: Any) -> None:
    doc = json.loads((trained / "model.json").read_text(encoding="utf-8"))
    assert doc["city"] == city_binding(city)


def test_the_old_model_keeps_serving_when_a_new_version_is_broken(
        trained: Path, live: Path, city: Any, caplog: pytest.LogCaptureFixture) -> None:
    holder = ModelHolder.roads(live, bucket_s=BUCKET_S, check_every_s=0.0, city=city)
    first, model = holder.version, holder.current()
    assert model is not None
    with caplog.at_level(logging.WARNING, logger="flowcast.model"):
        damage(live, booster_file(3, "mean"), truncated, version="v-truncated")
        assert holder.current() is model and holder.version == first
        assert holder.metrics.counter(FAILURES) == 1
        assert holder.current() is model  # the refused version is not tried again
        assert holder.metrics.counter(FAILURES) == 1
        h003 = booster_file(3, "mean")
        damage(live, h003, lambda text: (trained / h003).read_text(encoding="utf-8"))
        damage(live, booster_file(6, "mean"), absurd_leaf_count, version="v-absurd")
        assert holder.current() is model and holder.version == first
        assert holder.metrics.counter(FAILURES) == 2
    assert "h003_mean.txt is damaged: it is cut short" in caplog.text
    assert "h006_mean.txt crashed LightGBM in a test process (SIGABRT" in caplog.text
    assert f"still serving {first}" in caplog.text


def test_a_new_version_for_another_city_is_refused(live: Path, city: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    holder = ModelHolder.roads(live, bucket_s=BUCKET_S, check_every_s=0.0, city=city)
    first = holder.version
    _other_city(live, "v-chengdu")
    with caplog.at_level(logging.WARNING, logger="flowcast.model"):
        assert holder.current() is not None and holder.version == first
    assert f"trained for city 'Chengdu', this engine runs city {city.name!r}" in caplog.text
    assert holder.metrics.counter(FAILURES) == 1


def test_at_start_up_a_broken_model_is_a_user_error(live: Path, city: Any) -> None:
    damage(live, booster_file(3, "mean"), absurd_leaf_count)
    with pytest.raises(ModelError, match=r"h003_mean\.txt crashed LightGBM"):
        ModelHolder.roads(live, bucket_s=BUCKET_S, city=city)


def _flowcast_run(city: Any, model_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    city_file = tmp_path / "city.geojson"
    save_city(city, city_file)
    # no broker listens there: the model must be refused before one is needed
    return subprocess.run([sys.executable, "-m", "flowcast", "run", "--city", str(city_file),
                           "--model", str(model_dir), "--kafka", "127.0.0.1:9"],
                          capture_output=True, text=True, timeout=60, check=False)


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_flowcast_run_refuses_a_broken_model_with_one_line(live: Path, city: Any,
                                                          tmp_path: Path) -> None:
    damage(live, booster_file(3, "mean"), truncated)
    line = _one_error_line(_flowcast_run(city, live, tmp_path))
    assert f"{live / 'h003_mean.txt'} is damaged: it is cut short" in line


def test_flowcast_run_refuses_a_model_of_another_city(live: Path, city: Any,
                                                     tmp_path: Path) -> None:
    _other_city(live, "v-chengdu")
    line = _one_error_line(_flowcast_run(city, live, tmp_path))
    assert f"trained for city 'Chengdu', this engine runs city {city.name!r}" in line
