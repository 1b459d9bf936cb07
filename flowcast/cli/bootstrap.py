"""Whether anything listens at a Kafka bootstrap, asked before any Kafka client is built.

kafka-python retries a refused connection until its bootstrap timeout runs out; a refused
connection or a host name that does not exist is already the answer, so
:func:`check_listening` turns those into one :class:`KafkaUnreachableError` line at once. A
connection that merely times out (a slow or filtered network) is left to the client, which
waits its full timeout before saying the same.
"""

from __future__ import annotations

import socket

from flowcast.transport.kafka_client import KafkaUnreachableError, parse_bootstrap


def check_listening(bootstrap: str, timeout_s: float = 1.0) -> None:
    """Raise :class:`KafkaUnreachableError` when every address of ``bootstrap`` refuses a TCP
    connection or names an unknown host; return when one accepts, or when one gives no
    answer within ``timeout_s`` seconds (undecided: the Kafka client's timeout decides)."""
    reasons = []
    for host, port in parse_bootstrap(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return
        except ConnectionRefusedError:
            reasons.append("connection refused (nothing listens on that port)")
        except socket.gaierror as err:
            if err.errno != socket.EAI_NONAME:
                return  # a resolver that failed for now, not a name that does not exist
            reasons.append(f"unknown host {host!r}")
        except OSError:
            return
    raise KafkaUnreachableError(bootstrap, reasons[0])
