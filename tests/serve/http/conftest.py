"""Fixtures of the HTTP tests: one served live view per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live_harness import live_settings

from serve.http.served import Served


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """A fed live view on a real uvicorn server (token ``live_harness.TOKEN``)."""
    s = Served(live_settings())
    yield s
    s.close()
