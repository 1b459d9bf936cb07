"""The city the wire-format tests decode against: 60 detectors, 4 scenic spots."""

from __future__ import annotations

import pytest

from flowcast.city import City
from flowcast.ingest.simulator import generate_city


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(60, 4, seed=3)
