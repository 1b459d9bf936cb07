"""The fault suite's fixtures. Tests here carry the `fault` marker (`make test-faults` runs
them alone) and print what they measured (`-rP`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka_engine_harness import World, make_world

from flowcast.config import Settings


@pytest.fixture
def world(tmp_path: Path, kafka_settings: Settings, kafka_admin: KafkaAdminClient
          ) -> Iterator[World]:
    """A world on the session's shared broker."""
    w = make_world(tmp_path, kafka_settings, kafka_admin)
    try:
        yield w
    finally:
        w.procs.stop_all()
