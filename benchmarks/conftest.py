"""Benchmarks share the tests' real-Kafka fixtures (see tests/kafka_fixture.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from kafka_fixture import (  # noqa: F401
    kafka_admin,
    kafka_bootstrap,
    kafka_names,
    kafka_settings,
    pytest_collection_modifyitems,
)
