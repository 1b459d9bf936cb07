"""Whether the engine can talk to Kafka, and how long to wait before trying again.

The engine never dies of a broker outage: a failed poll, flush, commit or offset lookup marks
the link down, the step ends with its state and pending outputs kept, and the next attempt
waits an exponential backoff (0.5 s doubling up to ``kafka.retry_backoff_max_s``, with jitter so
that a whole group does not reconnect in step). The link is up again at the first broker
answer. While it is down ``/readyz`` answers 503, ``flowcast_broker_connected`` is 0, and no
watermark runs on with the clock: the readings of those minutes may be waiting in the broker.

>>> from flowcast.engine.clock import EventClock
>>> link = BrokerLink(Metrics(), EventClock(0), max_backoff_s=4.0, jitter=0.0)
>>> [link.failed(TimeoutError("no answer")) for _ in range(5)]
[0.5, 1.0, 2.0, 4.0, 4.0]
>>> link.connected, link.outages
(False, 1)
>>> link.answered(); link.connected
True
"""

from __future__ import annotations

import logging
import random

from flowcast.engine.clock import Clock
from flowcast.engine.metrics import Metrics

log = logging.getLogger("flowcast.engine.broker")

BASE_BACKOFF_S = 0.5


class BrokerLink:
    """The engine's view of its connection to the cluster (one per engine)."""

    def __init__(self, metrics: Metrics, clock: Clock, *, max_backoff_s: float = 10.0,
                 jitter: float = 0.2) -> None:
        self.metrics = metrics
        self.clock = clock
        self.max_backoff_s = max_backoff_s
        self.jitter = jitter
        self.connected = True
        self.outages = 0
        self.failures = 0  # consecutive, in the current outage
        self.last_error = ""
        self._down_since = 0.0
        metrics.describe("flowcast_broker_connected",
                         "Whether the engine reaches Kafka now: 1 connected, 0 cut off; "
                         "unit: 1 or 0")
        metrics.describe("flowcast_broker_errors_total",
                         "Broker calls (poll, flush, commit, offset lookup) that failed, by "
                         "error class; unit: calls")
        metrics.describe("flowcast_broker_outage_seconds",
                         "Length of each broker outage, from the first failed call to the next "
                         "answer; unit: seconds")
        metrics.set("flowcast_broker_connected", 1)

    def failed(self, error: BaseException) -> float:
        """Record a failed broker call; returns the seconds to wait before the next attempt."""
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}"
        self.metrics.inc("flowcast_broker_errors_total", error=type(error).__name__)
        if self.connected:
            self.connected = False
            self.outages += 1
            self._down_since = self.clock.monotonic()
            self.metrics.set("flowcast_broker_connected", 0)
            log.warning("lost the broker (%s); state kept, retrying with backoff",
                        self.last_error)
        delay = min(self.max_backoff_s, BASE_BACKOFF_S * 2 ** (self.failures - 1))
        return delay * (1 + self.jitter * (2 * random.random() - 1))

    def answered(self) -> None:
        """Record a call the broker answered; ends an outage."""
        if self.connected:
            return
        down_s = self.clock.monotonic() - self._down_since
        self.connected = True
        self.failures = 0
        self.metrics.set("flowcast_broker_connected", 1)
        self.metrics.observe("flowcast_broker_outage_seconds", down_s)
        log.warning("broker back after %.1f s; resuming where the engine stopped", down_s)

    def outage_s(self) -> float:
        """Seconds since the current outage began (0 while connected)."""
        return 0.0 if self.connected else self.clock.monotonic() - self._down_since
