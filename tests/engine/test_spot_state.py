"""The spot state's city wiring."""

from __future__ import annotations

import numpy as np

from flowcast.city import City
from flowcast.engine.spot_state import SpotState
from flowcast.ingest.readings import SpotBatch
from flowcast.kernels import buckets as kb

T0 = 1_764_000_000_000


def test_spot_state_for_a_city_uses_local_opening_times(tiny_city: City) -> None:
    state = SpotState.for_city(tiny_city)
    assert state.utc_offset_ms == 8 * 3_600_000
    assert state.opens_ms.tolist() == [9 * 3_600_000, 7.5 * 3_600_000]
    batch = SpotBatch(np.array([1, 5], np.int32), np.array([T0, T0], np.int64),
                      np.ones(2, np.float32), np.zeros(2, np.float32),
                      np.full(2, np.nan, np.float32))
    assert state.add(state.localize(batch)).status.tolist() == [kb.ACCEPTED, kb.INVALID]
