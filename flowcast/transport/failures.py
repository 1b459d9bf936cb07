"""Which transport errors a process waits out, and which it must stop for.

A broker that restarts, a leader that moves, a coordinator being elected, a flush that runs out
of time: all pass, and the engine retries them with backoff (``flowcast.engine.broker_link``).
A refused password, a missing ACL, a bad setting or another process holding this one's static
instance id do not pass by waiting; they stop the process with a message that says what to fix.

>>> from kafka.errors import FencedInstanceIdError, KafkaConnectionError
>>> is_transient(KafkaConnectionError("reset by peer"))
True
>>> is_transient(FencedInstanceIdError())
False
"""

from __future__ import annotations

from kafka.errors import (
    AuthorizationError,
    FencedInstanceIdError,
    KafkaConfigurationError,
    KafkaError,
    SaslAuthenticationFailedError,
)

from flowcast.errors import FlowcastUserError
from flowcast.transport.sinks import SinkError

_FATAL = (AuthorizationError, SaslAuthenticationFailedError, KafkaConfigurationError,
          FencedInstanceIdError)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a broker or delivery failure that retrying may cure."""
    return isinstance(error, KafkaError | SinkError) and not isinstance(error, _FATAL)


def fatal_error(error: BaseException, instance_id: str | None = None) -> FlowcastUserError:
    """The user error to stop with for a transport ``error`` that retrying will not cure."""
    if isinstance(error, FencedInstanceIdError):
        return FlowcastUserError(
            f"another engine process joined the group with kafka.instance_id {instance_id!r}; "
            "each process needs its own id (or none): set FLOWCAST_KAFKA_INSTANCE_ID per "
            "process")
    if isinstance(error, AuthorizationError | SaslAuthenticationFailedError):
        return FlowcastUserError(
            f"the Kafka cluster refused this client ({type(error).__name__}); check the "
            "credentials and ACLs in [kafka] for the topics and the consumer group")
    return FlowcastUserError(f"Kafka client misconfigured: {error}")
