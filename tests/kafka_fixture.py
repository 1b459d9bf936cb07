"""Real-Kafka fixtures, imported by ``tests/conftest.py``.

- ``kafka_bootstrap`` (session): ``HOST:PORT`` of a real broker. ``FLOWCAST_KAFKA_BOOTSTRAP`` if
  set (it must answer), else a :class:`flowcast.transport.devbroker.process.LocalKafka` started
  once per session.
  A broker that cannot be reached or started FAILS the tests that need it, with the broker's
  log tail; it never skips (in CI or elsewhere). Deselect with ``-m "not kafka"``.
- ``kafka_admin`` (session): a :class:`kafka.KafkaAdminClient` on that broker.
- ``kafka_names`` (function): names unique to the test (``kafka_names.topic("x")``,
  ``kafka_names.group("x")``); its topics are deleted after the test.
- ``kafka_settings`` (function): :class:`flowcast.config.Settings` pointing at the broker, with
  flowcast's six topic names and the consumer group made unique to the test (not created).

Any test that asks for ``kafka_bootstrap`` (directly or through the others) gets the ``kafka``
marker automatically, so ``-m "not kafka"`` never starts a broker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from flowcast.config import KafkaSettings, Settings, TopicSettings
from flowcast.errors import FlowcastUserError
from flowcast.transport.devbroker.logs import LocalKafkaError
from flowcast.transport.devbroker.process import LocalKafka
from flowcast.transport.kafka_client import admin_client, wait_for_broker

BOOTSTRAP_ENV = "FLOWCAST_KAFKA_BOOTSTRAP"
_HINT = ("(Kafka tests need Java 17+ and, on first use, Maven; deselect them with "
         "-m 'not kafka' outside CI)")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``HOST:PORT`` of a real Kafka broker for this test session."""
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        problem = _unanswered(external)
        if problem:  # failed outside the except block: one message, no chained traceback
            pytest.fail(f"{BOOTSTRAP_ENV}={external} does not answer: {problem}", pytrace=False)
        yield external
        return
    broker = LocalKafka()
    problem = _start(broker)
    if problem:
        pytest.fail(f"the local Kafka broker did not start {_HINT}:\n{problem}", pytrace=False)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def _unanswered(bootstrap: str) -> str | None:
    try:
        wait_for_broker(bootstrap, timeout_s=20.0)
    except FlowcastUserError as err:
        return str(err)
    return None


def _start(broker: LocalKafka) -> str | None:
    try:
        broker.start()
    except (LocalKafkaError, FlowcastUserError) as err:
        return str(err)
    return None


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    """An admin client on the session's broker, shared by the tests."""
    admin = admin_client(kafka_bootstrap, timeout_s=10.0, request_timeout_ms=15_000)
    try:
        yield admin
    finally:
        admin.close()


@dataclass(frozen=True)
class KafkaNames:
    """Topic and group names unique to one test: ``prefix`` + a stem."""

    prefix: str

    def topic(self, stem: str = "topic") -> str:
        """A topic name no other test uses."""
        return f"{self.prefix}{stem}"

    def group(self, stem: str = "group") -> str:
        """A consumer group id no other test uses."""
        return f"{self.prefix}{stem}"


@pytest.fixture
def kafka_names(kafka_admin: KafkaAdminClient) -> Iterator[KafkaNames]:
    """Unique names for this test; topics named with its prefix are deleted afterwards."""
    names = KafkaNames(f"t{uuid.uuid4().hex[:10]}.")
    yield names
    try:
        mine = [t for t in kafka_admin.list_topics() if t.startswith(names.prefix)]
        if mine:
            kafka_admin.delete_topics(mine, timeout_ms=10_000, raise_errors=False)
    except KafkaError:
        pass  # cleanup is courtesy on a shared broker; a session broker is thrown away anyway


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, kafka_names: KafkaNames) -> Settings:
    """Settings on the session's broker, with this test's own topic names and group id."""
    defaults = TopicSettings()
    names = {key: kafka_names.topic(getattr(defaults, key)) for key in (
        "road_readings", "spot_readings", "road_conditions", "spot_forecasts", "spot_alerts",
        "deadletter")}
    return Settings(
        kafka=KafkaSettings(bootstrap=kafka_bootstrap, group_id=kafka_names.group("engine"),
                            client_id="flowcast-test"),
        topics=TopicSettings(**names),
    )


_KAFKA_FIXTURES = {"kafka_bootstrap", "kafka_admin", "kafka_names", "kafka_settings"}


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m deselection reads the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a Kafka fixture with ``kafka``."""
    for item in items:
        if _KAFKA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)
