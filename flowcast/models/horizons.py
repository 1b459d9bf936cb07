"""Forecast horizons: minutes ahead as whole buckets ahead."""

from __future__ import annotations

from collections.abc import Iterable


def minutes_to_buckets(minutes: Iterable[int], bucket_s: int) -> tuple[int, ...]:
    """Horizons in minutes -> whole buckets of ``bucket_s`` seconds, ascending and distinct.

    Raises ``ValueError`` naming the first horizon that is not a positive multiple of the
    bucket.

    >>> minutes_to_buckets([60, 15, 30, 15], 900)
    (1, 2, 4)
    >>> minutes_to_buckets([20], 900)
    Traceback (most recent call last):
    ...
    ValueError: horizon 20 min is not a positive multiple of the dataset's 15 min buckets
    """
    bucket = f"{bucket_s // 60} min" if bucket_s % 60 == 0 else f"{bucket_s} s"
    steps = []
    for value in minutes:
        seconds = int(value) * 60
        if seconds <= 0 or seconds % bucket_s:
            raise ValueError(f"horizon {value} min is not a positive multiple of the "
                             f"dataset's {bucket} buckets")
        steps.append(seconds // bucket_s)
    return tuple(sorted(set(steps)))
