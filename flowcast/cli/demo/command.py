"""``flowcast demo``: the embedded default. A simulated city through the real engine over an
in-process bus (or a real broker), with the guidance screen and bureau pages."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from flowcast.cli.demo.app import Demo, DemoOptions, demo_settings
from flowcast.cli.demo.prepare import DemoCity
from flowcast.cli.logs import setup_logging, verbose_option
from flowcast.config import load_settings
from flowcast.errors import FlowcastUserError


@click.command("demo")
@click.option("--minutes", type=float, metavar="N",
              help="Run N simulated minutes of live stream, then exit (default: until Ctrl-C).")
@click.option("--speedup", type=float, default=60.0, show_default=True, metavar="X",
              help="Simulated seconds per second; 0 runs as fast as it can go.")
@click.option("--port", type=int, default=8080, show_default=True, metavar="P",
              help="HTTP port of the pages and the API (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on.")
@click.option("--kafka", "bootstrap", metavar="BOOTSTRAP",
              help="Run through a real Kafka broker (HOST:PORT) instead of the in-process bus; "
                   "the run creates its own topics and deletes them when it ends.")
@click.option("--keep-topics", is_flag=True,
              help="With --kafka: leave the run's topics and consumer group on the broker "
                   "when it ends (to inspect them).")
@click.option("--sensors", type=int, default=300, show_default=True, help="Road detectors.")
@click.option("--spots", type=int, default=5, show_default=True, help="Scenic spots.")
@click.option("--start", default=DemoCity.start, show_default=True, metavar="ISO",
              help="Simulated time the live stream starts (a Golden Week morning by default).")
@click.option("--history-days", type=float, default=3.0, show_default=True, metavar="D",
              help="Days of simulated history to train the quick model on.")
@click.option("--no-train", is_flag=True, help="Skip the model: serve the baselines.")
@click.option("--seed", type=int, default=7, show_default=True, help="Simulation seed.")
@click.option("--workdir", type=click.Path(path_type=Path), default=Path("out/demo"),
              show_default=True, help="Where the city, history and model are kept (reused).")
@click.option("--summary", "summary_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Write what was published (counts, alerts) as JSON when the run ends.")
@click.option("--config", "config_file", metavar="FILE", help="Settings file.")
@verbose_option
def demo(minutes: float | None, speedup: float, port: int, host: str, bootstrap: str | None,
         keep_topics: bool, sensors: int, spots: int, start: str, history_days: float,
         no_train: bool, seed: int, workdir: Path, summary_file: Path | None,
         config_file: str | None) -> None:
    """Simulate a city, train a quick model, and run the real engine on it with the guidance
    screen and the tourism bureau's pages; saturation alerts are printed as they come.

    \b
    Examples:
      flowcast demo                       # until Ctrl-C, pages on http://127.0.0.1:8080
      flowcast demo --minutes 120 --speedup 0 --port 0
      flowcast demo --kafka 127.0.0.1:9092
    """
    setup_logging(logging.WARNING, fmt="%(levelname)s %(name)s: %(message)s")
    options = DemoOptions(
        city=DemoCity(sensors=_at_least("--sensors", sensors, 10),
                      spots=_at_least("--spots", spots, 1), seed=seed,
                      start=_iso("--start", start), history_days=_days(history_days),
                      train=not no_train),
        workdir=workdir, minutes=_minutes(minutes), speedup=_speedup(speedup), host=host,
        port=_port(port), kafka=bootstrap, summary_file=summary_file,
        keep_topics=_keep_topics(keep_topics, bootstrap))
    settings = demo_settings(load_settings(config_file), options)
    summary = Demo(options, settings, lambda line: click.echo(line)).run()
    alerts = sum(1 for a in summary.alerts if a["msgType"] == "Alert")
    click.echo(f"demo finished at {summary.simulated_until}: {summary.conditions:,} road "
               f"conditions for {len(summary.segments)} segments, {summary.spot_forecasts:,} "
               f"spot forecasts, {alerts} alert(s) raised, {len(summary.alerts)} alert "
               f"message(s) in all")
    if summary_file is not None:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        summary_file.write_bytes(summary.to_json())


def _keep_topics(keep: bool, bootstrap: str | None) -> bool:
    if keep and not bootstrap:
        raise FlowcastUserError("--keep-topics applies only with --kafka (the in-process bus "
                                "ends with the run)")
    return keep


def _at_least(flag: str, value: int, minimum: int) -> int:
    if value < minimum:
        raise FlowcastUserError(f"{flag} must be at least {minimum}, got {value}")
    return value


def _iso(flag: str, text: str) -> str:
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FlowcastUserError(f"{flag} must be an ISO 8601 time with an offset, e.g. "
                                f"2026-10-02T08:00+08:00; got {text!r}") from None
    if when.tzinfo is None:
        raise FlowcastUserError(f"{flag} needs a UTC offset, e.g. {text}+08:00")
    if when.minute % 5 or when.second or when.microsecond:
        raise FlowcastUserError(f"{flag} must be on a 5-minute boundary, got {text!r}")
    return when.isoformat()


def _days(value: float) -> float:
    if not 1.5 <= value <= 60:
        raise FlowcastUserError(f"--history-days must be between 1.5 and 60, got {value:g}")
    return value


def _minutes(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise FlowcastUserError(f"--minutes must be positive, got {value:g}")
    return value


def _speedup(value: float) -> float:
    if not value >= 0 or value == float("inf"):
        raise FlowcastUserError(f"--speedup must be 0 (unpaced) or positive, got {value:g}")
    return value


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise FlowcastUserError(f"--port must be 0..65535, got {value}")
    return value
