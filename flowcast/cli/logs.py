"""Logging for the commands: flowcast's own records, and a quiet Kafka client.

One set-up for every command that logs (``flowcast run``, ``simulate``, ``demo``):
:func:`setup_logging` sends records to stderr, holds the kafka-python loggers (the ``kafka``
hierarchy) at WARNING and drops the client's known-harmless warnings and errors listed in
:data:`NOISE`: an assignor that has not seen a topic's metadata yet, a slow step of its IO
loop, an ordinary disconnect, the retries while a broker is away (the engine reports the
outage itself), bootstrap retries (flowcast turns a broker that never answers into one line).
Anything else the client says at WARNING or above still shows. ``--verbose``
(:func:`verbose_option`) brings the client's INFO records back, noise included.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

KAFKA_LOGGER = "kafka"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_VERBOSE_KEY = "flowcast.verbose"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Noise:
    """A kind of client record to drop: from exactly ``logger``, with a message that
    ``message`` (a regular expression) finds, and, when ``exceptions`` is not empty, carrying
    one of those exceptions."""

    logger: str
    message: str
    exceptions: tuple[type[BaseException], ...] = ()

    def matches(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is this noise."""
        if record.name != self.logger or not re.search(self.message, record.getMessage()):
            return False
        if not self.exceptions:
            return True
        error = record.exc_info[1] if record.exc_info else None
        return isinstance(error, self.exceptions)


_ASSIGNORS = ("range", "roundrobin", "sticky.sticky_assignor")

NOISE: tuple[Noise, ...] = (
    # a consumer joining before the topic's metadata arrived; the next rebalance assigns it
    *(Noise(f"kafka.coordinator.assignors.{name}", r"^No partition metadata for topic ")
      for name in _ASSIGNORS),
    # the client's IO thread shares two cores with the engine's Numba kernels
    Noise("kafka.net.selector", r"It is blocking the event loop"),
    # a broker that stops, restarts or is away: the client retries every couple of seconds,
    # and the engine says "lost the broker" once, then reports the outage in its status line
    Noise("kafka.net.transport", r"Error receiving network data closing socket",
          (ConnectionError,)),
    Noise("kafka.net.transport", r": socket disconnected$"),
    Noise("kafka.net.transport", r": Abort \(KafkaConnectionError: "),
    Noise("kafka.net.connection", r": Connection lost: KafkaConnectionError: "),
    Noise("kafka.net.manager", r"^Connection failed: KafkaConnectionError: "),
    Noise("kafka.cluster", r"^No node available for metadata refresh"),
    Noise("kafka.cluster", r"^Metadata refresh: failed KafkaConnectionError: "),
    Noise("kafka.coordinator", r"^Error sending \w+ to node \S+ \[KafkaConnectionError: "),
    Noise("kafka.coordinator", r"^Marking the coordinator dead .*: KafkaConnectionError: "),
    # bootstrap retries: a broker that never answers becomes one KafkaUnreachableError line
    Noise("kafka.net.manager", r"^Bootstrap \S+ not ready; waiting "),
    Noise("kafka.net.manager", r"^Bootstrap connection to \S+ failed: "),
    Noise("kafka.net.manager", r"^Bootstrap failed: KafkaTimeoutError"),
)


class NoiseFilter(logging.Filter):
    """Drops the records that match one of ``noise``."""

    def __init__(self, noise: tuple[Noise, ...]) -> None:
        super().__init__()
        self.noise = noise

    def filter(self, record: logging.LogRecord) -> bool:
        """False for noise (the record is dropped), True for everything else."""
        return not any(n.matches(record) for n in self.noise)


_FILTERS = {name: NoiseFilter(tuple(n for n in NOISE if n.logger == name))
            for name in dict.fromkeys(n.logger for n in NOISE)}


def verbose_option(command: F) -> F:
    """The ``--verbose`` flag of a command that logs; :func:`setup_logging` reads it."""

    def remember(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        ctx.meta[_VERBOSE_KEY] = value
        return value

    return click.option("--verbose", is_flag=True, expose_value=False, callback=remember,
                        help="Also show the Kafka client's own log (INFO and up).")(command)


def setup_logging(level: int = logging.INFO, *, verbose: bool | None = None,
                  fmt: str = FORMAT) -> None:
    """Log flowcast's records from ``level`` up to stderr as ``fmt``; the Kafka client's from
    WARNING up, less :data:`NOISE`, or, when ``verbose``, all of them from INFO up.
    ``verbose`` None reads the running command's ``--verbose`` (see :func:`verbose_option`).
    Safe to call again: the last call decides."""
    if verbose is None:
        ctx = click.get_current_context(silent=True)
        verbose = bool(ctx.meta.get(_VERBOSE_KEY)) if ctx is not None else False
    logging.basicConfig(level=level, format=fmt)
    logging.getLogger(KAFKA_LOGGER).setLevel(logging.INFO if verbose else logging.WARNING)
    for name, noise_filter in _FILTERS.items():
        logger = logging.getLogger(name)
        if verbose:
            logger.removeFilter(noise_filter)
        else:
            logger.addFilter(noise_filter)
