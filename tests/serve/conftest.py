"""Fixtures of the live-view tests: a small generated city, test settings, a fresh view."""

from __future__ import annotations

import pytest
from live_harness import live_settings

from flowcast.city import City
from flowcast.config import Settings
from flowcast.ingest.simulator import generate_city
from flowcast.serve.view import LiveView


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(30, 3, seed=5)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return live_settings()


@pytest.fixture
def view(city: City, settings: Settings) -> LiveView:
    return LiveView(city, settings)
