"""``flowcast train`` through the real CLI entry point: the model it writes, what it prints, and
exit 2 with one line for every bad argument (``flowcast backtest``: tests/cli/test_backtest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import one_error_line, write_speed_dataset

from flowcast.cli import main
from flowcast.models.roads.artifact import load_model


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_speed_dataset(tmp_path_factory.mktemp("data") / "roads")


# ----- success ------------------------------------------------------------------------------


# ----- success ------------------------------------------------------------------------------

def test_train_prints_validation_beside_baselines_and_writes_the_model(
        dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    assert main(["train", str(dataset), "--out", str(out), "--horizons", "15,30",
                 "--threads", "1", "--stride", "2", "--max-trees", "40",
                 "--learning-rate", "0.1"]) == 0
    printed = capsys.readouterr().out
    assert "validation tail (last 10% of the training times" in printed
    for name in ("lightgbm", "last_value", "historical_average", "seasonal_naive",
                 "profile_persistence"):
        assert name in printed
    assert "P10-P90 cover" in printed
    model = load_model(out, bucket_s=900, target="speed")
    assert model.horizons == (1, 2) and model.has_intervals
    training = model.info["training"]
    assert training["data_hash"].startswith("sha256:") and training["config"]["stride"] == 2
    assert training["config"]["max_rounds"] == 40
    assert training["config"]["params"]["learning_rate"] == 0.1
    assert max(b.num_trees() for b in model.boosters.values()) <= 40
    assert training["last_bucket"] == "2025-06-07T15:45:00Z"
    assert {r["model"] for r in model.info["metrics"]["validation"]} >= {"lightgbm"}
    assert f"model {model.version} -> {out}" in printed


# ----- user errors: exit 2, one line ------------------------------------------------------------

TRAIN_ERRORS = [
    (["--horizons", "15"], "say where to write the model: --out"),
    (["--out", "{tmp}/m", "--horizons", "20"],
     "--horizons: horizon 20 min is not a positive multiple of the dataset's 15 min buckets"),
    (["--out", "{tmp}/m", "--horizons", "15,abc"], "--horizons must be minutes"),
    (["--out", "{tmp}/m", "--horizons", "6000"], "longest horizon (6000 min = 400 buckets) is "
                                                 "longer than the data allows"),
    (["--out", "{tmp}/m", "--stride", "0"], "--stride must be at least 1, got 0"),
    (["--out", "{tmp}/m", "--sensors", "many"], "--sensors must be a whole number"),
    (["--out", "{tmp}/m", "--target", "flow"], "has no 'flow' series"),
    (["--out", "{tmp}/m", "--target", "colour"], "--target must be one of"),
    (["--out", "{tmp}"], "already exists; add --force"),
    (["--out", "{tmp}/m", "--learning-rate", "2"], "--learning-rate must be a number in (0, 1]"),
    (["--out", "{tmp}/m", "--max-trees", "-5"], "--max-trees must be at least 1, got -5"),
]


@pytest.mark.parametrize(("args", "message"), TRAIN_ERRORS)
def test_train_user_errors(dataset: Path, tmp_path: Path, args: list[str], message: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", str(dataset), *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    assert main(argv) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "m").exists()


def test_train_on_a_dataset_without_time_is_one_line(no_time_axis: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(no_time_axis), "--out", str(tmp_path / "m")]) == 2
    assert "has no 'time' axis" in one_error_line(capsys)
