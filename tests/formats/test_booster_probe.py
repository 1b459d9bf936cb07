"""The booster probe: a damaged LightGBM text model is refused with a reason, in this process
(structure) or in a child process (crash, hang, nonsense), and never crashes the test process."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from flowcast.formats import booster_probe
from flowcast.formats.booster_probe import (
    BoosterRefused,
    BoosterText,
    check_structure,
    probe_boosters,
)
from formats.booster_damage import absurd_leaf_count, huge_leaves, resize_trees, truncated

WIDTH = 5


@pytest.fixture(scope="module")
def text() -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, WIDTH))
    y = 2 * x[:, 0] + rng.normal(size=300)
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 7,
                         "num_threads": 1}, lgb.Dataset(x, y), num_boost_round=15)
    return booster.model_to_string()


@pytest.fixture(autouse=True)
def no_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test probes afresh: nothing passed before."""
    monkeypatch.setattr(booster_probe, "_PASSED", set())


def test_a_whole_booster_passes_and_is_remembered(text: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    probe_boosters([BoosterText(Path("h001_mean.txt"), text)], WIDTH)
    assert len(booster_probe._PASSED) == 1

    def no_child(*args: object) -> None:
        raise AssertionError("a booster that passed is not probed again")

    monkeypatch.setattr(booster_probe, "_run_child", no_child)
    probe_boosters([BoosterText(Path("again.txt"), text)], WIDTH)


@pytest.mark.parametrize(("change", "reason"), [
    (truncated, "cut short"),
    (lambda t: t[: t.index("feature_importances:")], "cut short"),  # trees whole, rest gone
    (lambda t: t.replace("num_leaves=", "num_leaves=1", 1), "do not have the sizes"),
    (lambda t: "\n".join(t.splitlines()[1:]), "does not start as a LightGBM text model"),
    (lambda t: t.replace("\nTree=", "\nXree="), "holds no trees"),
    (lambda t: resize_trees(t).replace("tree_sizes=", "tree_sizes=x"), "not whole numbers"),
])
def test_a_damaged_text_is_refused_before_any_child(text: str, change, reason: str) -> None:
    with pytest.raises(BoosterRefused, match=reason) as err:
        check_structure(Path("h001_mean.txt"), change(text), WIDTH)
    assert "h001_mean.txt" in str(err.value)


def test_a_booster_of_another_width_is_refused(text: str) -> None:
    with pytest.raises(BoosterRefused, match="max_feature_idx=4, a model of 7 features"):
        check_structure(Path("h001_mean.txt"), text, 7)


def test_absurd_numbers_abort_the_child_not_this_process(text: str) -> None:
    """LightGBM aborts (SIGABRT) on a tree whose leaf count disagrees with its arrays."""
    boosters = [BoosterText(Path("h001_mean.txt"), text),
                BoosterText(Path("h002_mean.txt"), absurd_leaf_count(text))]
    with pytest.raises(BoosterRefused,
                       match=r"h002_mean.txt crashed LightGBM in a test process \(SIGABRT"):
        probe_boosters(boosters, WIDTH)
    assert not booster_probe._PASSED


def test_a_crash_the_structure_check_misses_is_caught_by_the_child(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: with the structure check out of the way, a truncated file segfaults
    or aborts LightGBM, in the child."""
    monkeypatch.setattr(booster_probe, "check_structure", lambda *args: None)
    with pytest.raises(BoosterRefused,
                       match=r"h001_mean.txt crashed LightGBM in a test process \(SIG"):
        probe_boosters([BoosterText(Path("h001_mean.txt"), truncated(text))], WIDTH)


def test_a_non_finite_prediction_is_refused(text: str) -> None:
    with pytest.raises(BoosterRefused, match=r"h001_p90.txt failed its probe .*not finite"):
        probe_boosters([BoosterText(Path("h001_p90.txt"), huge_leaves(text))], WIDTH)


def test_a_child_that_hangs_is_stopped(text: str) -> None:
    with pytest.raises(BoosterRefused, match="did not load and predict a probe row within"):
        probe_boosters([BoosterText(Path("h001_mean.txt"), text)], WIDTH, timeout_s=0.01)
    assert not booster_probe._PASSED


def test_a_crash_that_prints_raw_bytes_is_still_a_refusal(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """LightGBM's fatal message can echo the damaged file's bytes, not always valid UTF-8."""
    child = ("import os, sys; sys.stdin.read(); sys.stderr.buffer.write(b'met \\xda\\xff'); "
             "sys.stderr.flush(); os.abort()")
    monkeypatch.setattr(booster_probe, "_CHILD", child)
    with pytest.raises(BoosterRefused, match=r"h001_mean.txt crashed LightGBM in a test process"):
        probe_boosters([BoosterText(Path("h001_mean.txt"), text)], WIDTH)
