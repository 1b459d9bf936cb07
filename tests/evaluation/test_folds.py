"""Folds of a chronological backtest: single split, T-GCN's windows, rolling origins."""

from __future__ import annotations

import numpy as np
import pytest

from flowcast.errors import FlowcastUserError
from flowcast.evaluation.folds import plan_folds


def test_single_split_arithmetic() -> None:
    (fold,) = plan_folds(100, (1, 4), test_fraction=0.2)
    assert fold.train_end == 80  # columns 0..79 train; the test span is 80..99
    assert fold.origins[0] == 79 and fold.origins[-1] == 98  # first target 80, last 99


def test_tgcn_split_matches_the_papers_windows() -> None:
    """SZ-taxi: 2976 steps, train rows 0..2379, test windows of 4 inputs inside the test part,
    targets 2384..2974 at 15 min (the last row is never a target)."""
    (fold,) = plan_folds(2976, (1, 2, 3, 4), protocol="tgcn", bucket_s=900)
    assert fold.train_end == 2380
    assert fold.origins[0] == 2383 and fold.origins[-1] == 2973 and len(fold.origins) == 591
    (fold,) = plan_folds(2976, (1,), protocol="tgcn", bucket_s=300)
    assert fold.origins[0] == 2380 + 12 - 1  # an hour of 5-min inputs, as for Los-loop


def test_rolling_origins_cover_the_test_span_once() -> None:
    folds = plan_folds(1000, (1, 4), test_fraction=0.3, folds=4)
    origins = np.concatenate([f.origins for f in folds])
    assert origins.tolist() == list(range(699, 999))
    for fold in folds:
        assert fold.train_end == fold.origins[0] + 1  # everything up to the first origin
    assert [f.train_end for f in folds] == [700, 775, 850, 925]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"test_fraction": 0.0}, "between 0 and 1"),
    ({"test_fraction": 1.0}, "between 0 and 1"),
    ({"folds": 0}, "--folds must be at least 1"),
    ({"folds": 2, "protocol": "tgcn"}, "single 80/20 split"),
    ({"protocol": "arima"}, "unknown protocol"),
    ({"horizons": (30,), "test_fraction": 0.2}, "longest horizon .* is longer than the test"),
    ({"folds": 50, "test_fraction": 0.2}, "50 folds do not fit"),
    ({"min_train": 90}, "only 80 buckets before the test span"),
])
def test_bad_plans_are_refused(kwargs: dict, message: str) -> None:
    args = {"horizons": (1, 4), **kwargs}
    horizons = args.pop("horizons")
    with pytest.raises(FlowcastUserError, match=message):
        plan_folds(100, horizons, **args)
