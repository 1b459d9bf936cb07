"""Which of a city's sensors or spots a state holds, and the map from the city's (global)
indices to the state's (partition-local) ones.

Road and spot states share this one mapping: :class:`LocalIndex` numbers the held indices
``0 .. n - 1`` in the order given, and :class:`LocalizedState` rewrites a batch's id column
through it with one vectorised lookup (no Python loop per reading).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

Batch = TypeVar("Batch")


@dataclass(frozen=True)
class LocalIndex:
    """``held``: int32 ``(n,)``, the global index of each local one (local order);
    ``local``: int32 ``(n_global,)``, the local index of each global one, -1 when not held."""

    held: np.ndarray
    local: np.ndarray

    @classmethod
    def of(cls, n_global: int, held: np.ndarray | None = None) -> LocalIndex:
        """The mapping for ``held`` (global indices, default all ``n_global``)."""
        kept = (np.arange(n_global, dtype=np.int32) if held is None
                else np.asarray(held, np.int32))
        local = np.full(n_global, -1, np.int32)
        local[kept] = np.arange(len(kept), dtype=np.int32)
        return cls(kept, local)

    def __len__(self) -> int:
        return len(self.held)

    def to_local(self, index: np.ndarray) -> np.ndarray:
        """Global indices mapped to local ones (int32, same shape; -1 where not held or out of
        range)."""
        n = len(self.local)
        inside = (index >= 0) & (index < n)
        return np.where(inside, self.local[np.clip(index, 0, n - 1)], -1).astype(np.int32)


class LocalizedState:
    """What a road or spot state needs to take batches keyed by the city's indices: the
    mapping (``None`` when the state's indices are the city's) and the batch's id column."""

    id_column: ClassVar[str]  # "sensor" for road batches, "spot" for spot batches
    index: LocalIndex | None = None

    def localize(self, batch: Batch) -> Batch:
        """``batch`` with global ids mapped to this state's local ones (-1 = not held here)."""
        if self.index is None:
            return batch
        ids = self.index.to_local(getattr(batch, self.id_column))
        return dataclasses.replace(batch, **{self.id_column: ids})  # type: ignore[type-var]

    def ids(self, batch: Any) -> np.ndarray:
        """The id column (sensor or spot index, int32) of a batch."""
        return getattr(batch, self.id_column)  # type: ignore[no-any-return]
