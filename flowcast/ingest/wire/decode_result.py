"""What a reading decoder returns: the valid readings and, columnar, every refused input.

A :class:`DecodeResult` pairs the batch of valid readings with the record each came from and
the :class:`Rejects` (position, Arrow row, reason code into
:data:`~flowcast.ingest.wire.schema.REASONS`), which dead-lettering iterates as
:class:`Rejection` tuples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

import numpy as np

from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.schema import REASONS, ReadingKind


class Rejection(NamedTuple):
    """One refused input: the record's position in the decoded list, why, and for an Arrow
    frame the row inside it (None when the whole record is refused)."""

    position: int
    reason: str
    row: int | None


@dataclass(frozen=True)
class Rejects:
    """Refused inputs, columnar: int32 ``position``, int32 ``row`` (-1: the whole record),
    int8 ``reason`` (code into :data:`REASONS`). Sorted by (position, row)."""

    position: np.ndarray
    row: np.ndarray
    reason: np.ndarray

    def __len__(self) -> int:
        return len(self.position)

    def __iter__(self) -> Iterator[Rejection]:
        for p, r, c in zip(self.position.tolist(), self.row.tolist(), self.reason.tolist(),
                           strict=True):
            yield Rejection(p, REASONS[c], None if r < 0 else r)

    def counts(self) -> dict[str, int]:
        """Number of rejections per reason (only reasons that occur)."""
        codes = np.bincount(self.reason, minlength=len(REASONS))
        return {REASONS[i]: int(n) for i, n in enumerate(codes) if n}

    @staticmethod
    def build(position: np.ndarray, row: np.ndarray, reason: np.ndarray) -> Rejects:
        """Rejects from unsorted arrays."""
        order = np.lexsort((row, position))
        return Rejects(position[order].astype(np.int32), row[order].astype(np.int32),
                       reason[order].astype(np.int8))


BatchT = TypeVar("BatchT", RoadBatch, SpotBatch)


@dataclass
class DecodeResult(Generic[BatchT]):
    """What a decoder returns: the valid readings, the record each came from (int32
    ``source``, aligned with ``batch``), and every refused input."""

    batch: BatchT
    source: np.ndarray
    rejects: Rejects


def empty_result(kind: ReadingKind) -> DecodeResult:
    """A result with no readings and no rejects."""
    batch = RoadBatch.empty() if kind.name == "road" else SpotBatch.empty()
    none = np.empty(0, np.int32)
    return DecodeResult(batch, none, Rejects(none, none, np.empty(0, np.int8)))
