"""Shared fixtures. Add your own below; keep each group's code in its own module."""

# Real-Kafka fixtures (kafka_bootstrap, kafka_admin, kafka_names, kafka_settings) and the hook
# that marks their users `kafka`; see tests/kafka_fixture.py.
from kafka_fixture import (  # noqa: F401
    kafka_admin,
    kafka_bootstrap,
    kafka_names,
    kafka_settings,
    pytest_collection_modifyitems,
)
