"""The commands' logging: the Kafka client held at WARNING without its known noise, and
``--verbose`` bringing its INFO records back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from flowcast.cli import main
from flowcast.cli.logs import KAFKA_LOGGER, NOISE, setup_logging

NOISY_LOGGERS = sorted({n.logger for n in NOISE} | {KAFKA_LOGGER})


@pytest.fixture(autouse=True)
def restore_loggers() -> Iterator[None]:
    """Put the kafka loggers' levels and filters back as they were."""
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).filters))
             for name in NOISY_LOGGERS}
    yield
    for name, (level, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.filters[:] = filters


def emit(logger: str, level: int, message: str, error: BaseException | None = None) -> None:
    """Log ``message`` from ``logger`` as kafka-python would, with ``error`` as exc_info."""
    log = logging.getLogger(logger)
    if error is None:
        log.log(level, message)
        return
    try:
        raise error
    except BaseException:
        log.log(level, message, exc_info=True)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_kafka_client_logs_at_warning_without_its_noise(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    setup_logging(verbose=False)
    assert logging.getLogger(KAFKA_LOGGER).getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("kafka.consumer.group").getEffectiveLevel() == logging.WARNING
    caplog.set_level(logging.DEBUG)  # the root and caplog's handler take everything
    emit("kafka.net.manager", logging.INFO, "Bootstrap complete: ClusterMetadata(...)")
    emit("kafka.coordinator.assignors.range", logging.WARNING,
         "No partition metadata for topic flowcast.road.readings")
    emit("kafka.net.selector", logging.WARNING,
         "Task <Task heartbeat> ran for 0.712s (>0.500s threshold). It is blocking the event "
         "loop -- likely a tight sync loop inside a coroutine. Other pollers will time out.")
    emit("kafka.net.transport", logging.ERROR,
         "<KafkaTCPTransport node=1>: Error receiving network data closing socket",
         ConnectionResetError(104, "Connection reset by peer"))
    emit("kafka.net.transport", logging.ERROR, "<KafkaTCPTransport node=1>: socket disconnected")
    emit("kafka.net.manager", logging.WARNING,
         "Bootstrap connection to bootstrap-0 failed: KafkaConnectionError: refused "
         "(backoff 0.05 secs)")
    # what a broker that is away makes the client say every couple of seconds
    emit("kafka.cluster", logging.WARNING, "No node available for metadata refresh - "
         "backoff/retry")
    emit("kafka.cluster", logging.ERROR,
         "Metadata refresh: failed KafkaConnectionError: 111 ECONNREFUSED")
    emit("kafka.net.manager", logging.ERROR,
         "Connection failed: KafkaConnectionError: 111 ECONNREFUSED")
    emit("kafka.net.connection", logging.ERROR, "<KafkaConnection node_id=1 (disconnected)>: "
         "Connection lost: KafkaConnectionError: 111 ECONNREFUSED")
    emit("kafka.coordinator", logging.ERROR, "Error sending FindCoordinatorRequest to node 1 "
         "[KafkaConnectionError: 111 ECONNREFUSED]")
    assert messages(caplog) == []
    # the same logger's other records, and the same message with another cause, still show
    emit("kafka.net.transport", logging.ERROR,
         "<KafkaTCPTransport node=1>: Error receiving network data closing socket",
         ValueError("a bug in the protocol parser"))
    emit("kafka.net.selector", logging.WARNING, "Wakeup socket returned empty. Rebuilding.")
    emit("kafka.consumer.group", logging.ERROR, "Offset commit failed: GroupAuthorizationFailed")
    emit("kafka.net.connection", logging.ERROR, "<KafkaConnection node_id=1>: Connection lost: "
         "SaslAuthenticationFailedError: wrong password")
    emit("flowcast.engine.loop", logging.INFO, "assigned 6 partitions")
    assert messages(caplog) == [
        "<KafkaTCPTransport node=1>: Error receiving network data closing socket",
        "Wakeup socket returned empty. Rebuilding.",
        "Offset commit failed: GroupAuthorizationFailed",
        "<KafkaConnection node_id=1>: Connection lost: SaslAuthenticationFailedError: wrong "
        "password",
        "assigned 6 partitions",
    ]


def test_verbose_brings_the_client_log_back_at_info(caplog: pytest.LogCaptureFixture) -> None:
    setup_logging(verbose=False)
    setup_logging(verbose=True)  # the last call decides
    assert logging.getLogger(KAFKA_LOGGER).getEffectiveLevel() == logging.INFO
    caplog.set_level(logging.DEBUG)
    emit("kafka.net.manager", logging.DEBUG, "Starting new bootstrap")
    emit("kafka.net.manager", logging.INFO, "Bootstrap complete")
    emit("kafka.coordinator.assignors.range", logging.WARNING,
         "No partition metadata for topic flowcast.road.readings")
    assert messages(caplog) == ["Bootstrap complete",
                                "No partition metadata for topic flowcast.road.readings"]


def test_setting_up_twice_adds_each_filter_once() -> None:
    setup_logging(verbose=False)
    setup_logging(verbose=False)
    for name in {n.logger for n in NOISE}:
        assert len(logging.getLogger(name).filters) == 1


@pytest.mark.parametrize(("flags", "level"), [([], logging.WARNING),
                                              (["--verbose"], logging.INFO)])
def test_the_verbose_flag_of_a_command(flags: list[str], level: int,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    # the set-up runs first, then the bootstrap is refused: exit 2 without touching a network
    assert main(["simulate", *flags, "--sensors", "5", "--kafka", "nonsense"]) == 2
    assert logging.getLogger(KAFKA_LOGGER).level == level
    assert capsys.readouterr().err.startswith("error: Kafka bootstrap 'nonsense'")
