"""The folds of a chronological backtest: where the test span starts and which origins each
fold's model forecasts from (protocols in :mod:`flowcast.evaluation.backtest`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flowcast.errors import FlowcastUserError

PROTOCOLS = ("standard", "tgcn")


@dataclass(frozen=True)
class Fold:
    """One fold: the model reads bucket columns ``< train_end``; it forecasts from the
    anchor columns ``origins`` (int64, ascending)."""

    index: int
    train_end: int
    origins: np.ndarray



def tgcn_seq_len(bucket_s: int) -> int:
    """T-GCN's input length in buckets: one hour (4 for 15-min buckets, 12 for 5-min)."""
    return max(1, 3600 // int(bucket_s))


def plan_folds(n_buckets: int, horizons: Sequence[int], *, test_fraction: float = 0.2,
               folds: int = 1, protocol: str = "standard", bucket_s: int = 300,
               min_train: int = 1) -> list[Fold]:
    """The folds of a backtest over ``n_buckets`` columns.

    The test span starts at column ``split = floor(n_buckets x (1 - test_fraction))`` (T-GCN's
    ``int(T * 0.8)``). ``folds`` blocks of (nearly) equal length cover it; fold ``k`` trains
    on the columns before its block and forecasts from the origins ``block_start - 1`` up to
    the column before the next block's first origin (the last fold: up to the last column with
    a target after it). Under ``tgcn`` the first origin is ``split + seq_len - 1`` and the last
    column is never a target. Raises :class:`FlowcastUserError` for a test fraction outside
    (0, 1), fewer than one fold, a horizon as long as the test span, or a first fold with
    fewer than ``min_train`` training columns.
    """
    if not 0 < test_fraction < 1:
        raise FlowcastUserError(f"--test-fraction must be between 0 and 1 (exclusive), got "
                                f"{test_fraction:g}")
    if folds < 1:
        raise FlowcastUserError(f"--folds must be at least 1, got {folds}")
    if protocol not in PROTOCOLS:
        raise FlowcastUserError(f"unknown protocol {protocol!r}; use one of "
                                f"{', '.join(PROTOCOLS)}")
    if protocol == "tgcn" and folds != 1:
        raise FlowcastUserError("the tgcn protocol is a single 80/20 split; drop --folds")
    split = int(np.floor(n_buckets * (1 - test_fraction) + 1e-9))
    first = split - 1 + (tgcn_seq_len(bucket_s) if protocol == "tgcn" else 0)
    last_target = n_buckets - (2 if protocol == "tgcn" else 1)
    _check_span(n_buckets, split, first, last_target, max(horizons), folds, min_train, bucket_s)
    starts = first + (np.arange(folds) * (last_target - first)) // folds
    ends = [*starts[1:], last_target]
    return [Fold(k, int(s) + 1 if protocol != "tgcn" else split,
                 np.arange(s, e, dtype=np.int64))
            for k, (s, e) in enumerate(zip(starts, ends, strict=True))]


def _check_span(n_buckets: int, split: int, first: int, last_target: int, longest: int,
                folds: int, min_train: int, bucket_s: int) -> None:
    span = last_target - first
    if longest > span:
        raise FlowcastUserError(
            f"the longest horizon ({longest} buckets = {_minutes(longest, bucket_s)}) is longer "
            f"than the test span ({max(span, 0)} buckets of {n_buckets}); use shorter "
            "--horizons or a larger --test-fraction")
    if span < folds:
        raise FlowcastUserError(f"{folds} folds do not fit in a test span of {span} buckets; "
                                "use fewer --folds")
    if split < min_train:
        raise FlowcastUserError(
            f"only {max(split, 0)} buckets before the test span, the model needs at least "
            f"{min_train}; use a smaller --test-fraction or a longer dataset")


def _minutes(steps: int, bucket_s: int) -> str:
    return f"{steps * bucket_s / 60:g} min"
