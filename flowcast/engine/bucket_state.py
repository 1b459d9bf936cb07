"""What road and spot states share: the outcome of adding a batch, the record of the buckets a
close wrote, the one column type the kernels see, and where a state that has seen nothing
starts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class AddResult:
    """What became of a batch: ``status`` int8 per reading (``buckets.ACCEPTED / CORRECTED /
    TOO_OLD / AHEAD / INVALID``) and the count of each."""

    status: np.ndarray
    accepted: int = 0
    corrected: int = 0
    too_old: int = 0
    ahead: int = 0
    invalid: int = 0


class BucketSpan:
    """Shared by the closed-bucket records: their count and their end times."""

    bucket_ms: int
    bucket_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.bucket_ids)

    @property
    def end_ms(self) -> np.ndarray:
        """Epoch ms at which each bucket ends (its forecasts' issue time)."""
        return (self.bucket_ids + 1) * self.bucket_ms


def kernel_column(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as a contiguous read-only array of ``dtype`` (no copy when it already is
    one). Kernels then see one array type whether a decoder handed over a writeable array or a
    read-only Arrow buffer, and compile once."""
    out = np.ascontiguousarray(values, dtype).view()
    out.flags.writeable = False
    return out


def start_bucket(ts_ms: np.ndarray, valid: np.ndarray, bucket_ms: int, n_open: int) -> int | None:
    """Where a state that has seen nothing starts: the batch's oldest bucket, or as far back as
    the open ring reaches from its newest one (``None`` when no reading is ``valid``)."""
    if not valid.any():
        return None
    b = ts_ms[valid] // bucket_ms
    return int(max(b.min(), b.max() - n_open + 1))
