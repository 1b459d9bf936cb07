"""The one mapping from a city's indices to a partition's."""

from __future__ import annotations

import numpy as np

from flowcast.engine.local_index import LocalIndex


def test_held_indices_are_numbered_in_the_order_given() -> None:
    index = LocalIndex.of(6, np.array([4, 1]))
    assert len(index) == 2 and index.held.tolist() == [4, 1]
    assert index.local.tolist() == [-1, 1, -1, -1, 0, -1]
    got = index.to_local(np.array([1, 4, 0, -1, 6, 99], np.int32))
    assert got.tolist() == [1, 0, -1, -1, -1, -1] and got.dtype == np.int32


def test_by_default_every_index_is_held() -> None:
    index = LocalIndex.of(3)
    assert index.held.tolist() == [0, 1, 2]
    assert index.to_local(np.array([2, 0, 3])).tolist() == [2, 0, -1]
