"""Horizons in minutes as whole buckets: one conversion for training, the engine and the CLI."""

from __future__ import annotations

import pytest

from flowcast.models.horizons import minutes_to_buckets


def test_horizons_in_minutes_become_buckets() -> None:
    assert minutes_to_buckets([15, 30, 45, 60], 900) == (1, 2, 3, 4)
    assert minutes_to_buckets([60, 15, 15], 300) == (3, 12)
    with pytest.raises(ValueError, match="horizon 20 min is not a positive multiple of the "
                                         "dataset's 15 min buckets"):
        minutes_to_buckets([15, 20], 900)
    with pytest.raises(ValueError, match="horizon 0 min"):
        minutes_to_buckets([0], 900)


def test_seconds_buckets_are_named_in_seconds() -> None:
    assert minutes_to_buckets((1, 2), 30) == (2, 4)
    with pytest.raises(ValueError, match="horizon 1 min is not a positive multiple of the "
                                         "dataset's 90 s buckets"):
        minutes_to_buckets([3, 1], 90)
