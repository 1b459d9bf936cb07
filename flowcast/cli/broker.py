"""``flowcast broker``: a local single-node Kafka (KRaft) for development, until Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from flowcast.cli.flags import WholeNumber
from flowcast.transport.devbroker.jars import KAFKA_VERSION, cache_dir, jars_ready
from flowcast.transport.devbroker.logs import LocalKafkaError
from flowcast.transport.devbroker.process import LocalKafka

# Both are handled here, not left to Python's KeyboardInterrupt: a process started in the
# background by a script inherits SIGINT ignored, and Python then never raises it. The JVM runs
# in a session of its own (the terminal's Ctrl-C does not reach it), so this process stops it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stop(Exception):
    """SIGINT or SIGTERM arrived: leave the wait and stop the broker."""


@click.command("broker")
@click.option("--port", metavar="P",
              type=WholeNumber(min=1, max=65535, expects="a TCP port number (1-65535)"),
              help="Client port on 127.0.0.1 (default: a free one, printed at start).")
@click.option("--data-dir", metavar="DIR",
              help="Keep the broker's data here across restarts (default: a temporary "
                   "directory removed at exit).")
@click.option("--heap", metavar="SIZE", default="1g", show_default=True,
              help="JVM heap (-Xmx) of the broker.")
def broker(port: int | None, data_dir: str | None, heap: str) -> None:
    """Start a local Kafka broker, print its bootstrap address, run until Ctrl-C or SIGTERM."""
    kafka = LocalKafka(port, Path(data_dir) if data_dir else None, heap=heap)
    if not jars_ready():
        click.echo(f"fetching Kafka {KAFKA_VERSION}'s jars with Maven into "
                   f"{cache_dir()} (first run only, about 45 MB)...", err=True)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in STOP_SIGNALS}
    try:
        try:
            kafka.start()
        except LocalKafkaError as err:
            raise click.ClickException(str(err)) from None
        # The stdout line is what scripts wait for, so it comes last: once it is read, the rest
        # has been said.
        click.echo(f"  export FLOWCAST_KAFKA_BOOTSTRAP={kafka.bootstrap}", err=True)
        click.echo(f"  data in {kafka.data_dir}, log {kafka.data_dir / 'broker.log'}; "
                   "Ctrl-C stops it", err=True)
        click.echo(f"bootstrap: {kafka.bootstrap}")
        code = kafka.wait()
        raise click.ClickException(
            f"the Kafka broker exited by itself (status {code}); its log:\n{kafka.log_tail()}")
    except _Stop:
        click.echo("stopping the Kafka broker...", err=True)
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the stop short
        kafka.stop()
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    click.echo("the Kafka broker stopped", err=True)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop
