"""``flowcast run``: the streaming engine against a real Kafka cluster."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING

import click

from flowcast.cli.bootstrap import check_listening
from flowcast.cli.logs import setup_logging, verbose_option
from flowcast.config import Settings, load_settings
from flowcast.errors import FlowcastUserError
from flowcast.transport.kafka_client import bootstrap_of

if TYPE_CHECKING:  # the engine, models and server load only once the flags are known good
    from flowcast.engine.loop import Engine
    from flowcast.engine.metrics import Labels

TOP_REASONS = 3  # dead-letter reasons named in the status line; the rest are summed


@click.command("run")
@click.option("--config", "config_file", metavar="FILE",
              help="Settings file (default ./flowcast.toml).")
@click.option("--kafka", "bootstrap", metavar="BOOTSTRAP",
              help="Kafka bootstrap HOST:PORT (default kafka.bootstrap or "
                   "FLOWCAST_KAFKA_BOOTSTRAP).")
@click.option("--city", "city_file", metavar="CITY", required=True,
              help="The city registry (GeoJSON) whose sensors and spots to process.")
@click.option("--model", "model_dir", metavar="MODEL_DIR",
              help="A model directory from 'flowcast train'; new versions written there are "
                   "picked up without a restart. Without it the baselines forecast.")
@click.option("--group", "group_id", metavar="GROUP",
              help="Consumer group (default kafka.group_id); processes in one group split the "
                   "partitions.")
@click.option("--instance-id", metavar="ID",
              help="Static group membership (default kafka.instance_id: none): a stable id for "
                   "this process, unique in the group; restarted with it, the process gets its "
                   "partitions back at once, without a rebalance.")
@click.option("--start-from", type=click.Choice(["earliest", "latest"]),
              help="Where a group with no committed offsets starts publishing "
                   "(default engine.start_from: latest, after rebuilding state).")
@click.option("--status-every", default=10.0, show_default=True, metavar="SECONDS",
              help="How often to print a status line (0: never).")
@click.option("--port", type=click.IntRange(0, 65535), metavar="P",
              help="Also serve the HTTP API, the guidance screen and the bureau page on this "
                   "port of http.host (0: any free port). Without it nothing is served.")
@verbose_option
def run(config_file: str | None, bootstrap: str | None, city_file: str,
        model_dir: str | None, group_id: str | None, instance_id: str | None,
        start_from: str | None,
        status_every: float, port: int | None) -> None:
    """Run the streaming engine: consume readings, publish conditions and spot forecasts.

    Stops cleanly on SIGTERM or Ctrl-C: the batch in hand is finished, outputs are flushed,
    offsets committed, and the process leaves the consumer group (a static member keeps its
    partitions for kafka.session_timeout_s, to get them back if it returns).
    Outlives the broker: while Kafka cannot be reached it keeps its state, retries with
    backoff, and /readyz answers 503.
    """
    setup_logging(logging.INFO)
    settings = load_settings(config_file, overrides={
        "kafka": {"bootstrap": bootstrap, "group_id": group_id, "instance_id": instance_id},
        "engine": {"start_from": start_from}, "http": {"port": port}})
    bootstrap_of(settings.kafka.bootstrap)  # before anything slow: a malformed address
    _run(settings, city_file, model_dir, status_every, port)


def _run(settings: Settings, city_file: str, model_dir: str | None, status_every: float,
         port: int | None) -> None:
    """Build the engine (and the server with ``port``), run it until stopped, close."""
    from flowcast.engine.loop import Engine
    from flowcast.engine.metrics import Metrics
    from flowcast.engine.model_holder import ModelHolder
    from flowcast.formats.city_read import load_city
    from flowcast.serve.service import Service
    from flowcast.transport.kafka_client import make_consumer
    from flowcast.transport.readback import kafka_alerts_reader
    from flowcast.transport.sinks import KafkaSink, SinkError

    city = load_city(city_file)
    if city.n_sensors == 0 and city.n_spots == 0:
        raise FlowcastUserError(f"{city_file} has no sensors and no spots; nothing to run")
    metrics = Metrics()
    # before any broker: a model that is broken or made for another city is refused (exit 2);
    # its boosters are tried in a child process first, so a damaged one cannot crash this one
    models = (ModelHolder.roads(model_dir, bucket_s=settings.time.road_bucket_s, metrics=metrics,
                                city=city)
              if model_dir else None)
    # the local inputs are checked first; then, before any client (whose retries would take
    # tens of seconds), an address where nothing listens is one line
    check_listening(bootstrap_of(settings.kafka.bootstrap))
    consumer = make_consumer(settings.kafka, group_id=settings.kafka.group_id,
                             max_poll_records=settings.engine.poll_max_records,
                             fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
    sink = KafkaSink.connect(settings.kafka)
    # a spot partition taken over reads the compacted alerts topic back: the topic, not the
    # replayed forecasts, says which alerts are active
    alerts = kafka_alerts_reader(settings.kafka, settings.topics.spot_alerts)
    engine = Engine(city, settings, consumer, [sink], metrics=metrics, models=models,
                    alerts_reader=alerts)
    stop = threading.Event()
    _stop_on_signals(stop)
    engine.subscribe()
    model_text = f"model {models.version}" if models is not None else "baseline forecasts"
    click.echo(f"flowcast run: {city.name}, {city.n_sensors} sensors, {city.n_spots} spots, "
               f"{model_text}; group {settings.kafka.group_id} at {settings.kafka.bootstrap}",
               err=True)
    service = None
    if port is not None:
        # the live view reads every output partition, on its own consumer without a group
        service = Service.start(city, settings, make_consumer(settings.kafka, group_id=None),
                                metrics=metrics, engine_ready=engine.ready.is_set,
                                connected=lambda: engine.link.connected)
        url = service.url
        click.echo(f"flowcast run: serving {url}/screen (guidance screen), {url}/bureau "
                   f"(bureau), {url}/api/conditions (API), {url}/metrics", err=True)
        warning = token_warning(settings, port)
        if warning is not None:
            click.echo(warning, err=True)
    try:
        _run_with_status(engine, stop, status_every)
    finally:
        if service is not None:
            service.close()
    try:
        sink.close()
    except SinkError as err:
        raise FlowcastUserError(f"stopped, but outputs were not all acknowledged ({err}); "
                                "their offsets were not committed, so they are published "
                                "again on the next start") from None
    click.echo("flowcast run: stopped; offsets committed, left the group", err=True)


def token_warning(settings: Settings, port: int | None) -> str | None:
    """The warning line for serving HTTP on ``port`` (None: not serving) without
    ``http.token``, when every Acknowledge is refused; None when there is nothing to say."""
    if port is None or settings.http.token:
        return None
    return ("flowcast run: warning: http.token is empty, so the bureau page's Acknowledge is "
            "refused (401); set a token as [http] token in flowcast.toml or in "
            "FLOWCAST_HTTP_TOKEN")


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _run_with_status(engine: Engine, stop: threading.Event, every: float) -> None:
    """Run ``engine`` until ``stop``, echoing :func:`status_line` every ``every`` seconds."""
    last = time.monotonic()
    last_readings = last_outputs = 0.0

    def report(e: Engine) -> bool:
        nonlocal last, last_readings, last_outputs
        now = time.monotonic()
        if every > 0 and now - last >= every:
            readings = sum(e.metrics.counters("flowcast_readings_total").values())
            outputs = e.metrics.counter("flowcast_outputs_total")
            broker = ("" if e.link.connected else
                      f"; broker unreachable for {e.link.outage_s():.0f} s "
                      f"({e.link.last_error}), retrying")
            click.echo(status_line(
                readings_per_s=(readings - last_readings) / (now - last),
                outputs_per_s=(outputs - last_outputs) / (now - last),
                partitions=len(e.workers),
                lag=e.metrics.gauge("flowcast_consumer_lag_total") or 0,
                dead_letters=dead_letters_by_reason(
                    e.metrics.counters("flowcast_deadletters_total")),
                p99_s=e.metrics.quantiles("flowcast_close_to_ack_seconds").get(0.99),
                broker=broker), err=True)
            last, last_readings, last_outputs = now, readings, outputs
        return False

    engine.run(stop, until=report)


def dead_letters_by_reason(counters: Mapping[Labels, float]) -> dict[str, float]:
    """The ``flowcast_deadletters_total`` series (labelled ``reason`` and ``kind``) summed per
    reason: dead letters (readings or records) since the start."""
    totals: dict[str, float] = {}
    for labels, value in counters.items():
        reason = dict(labels).get("reason", "unknown")
        totals[reason] = totals.get(reason, 0.0) + value
    return totals


def status_line(*, readings_per_s: float, outputs_per_s: float, partitions: int, lag: float,
                dead_letters: Mapping[str, float], p99_s: float | None = None,
                broker: str = "") -> str:
    """One status line: readings taken and outputs published per second, partitions held,
    consumer lag (records), dead letters since the start with the :data:`TOP_REASONS` largest
    reasons, the close-to-acknowledgement p99 (``p99_s``, seconds) and the ``broker`` note."""
    ranked = sorted(((n, r) for r, n in dead_letters.items() if n > 0),
                    key=lambda item: (-item[0], item[1]))
    reasons = [f"{reason} {n:,.0f}" for n, reason in ranked[:TOP_REASONS]]
    others = sum(n for n, _ in ranked[TOP_REASONS:])
    if others:
        reasons.append(f"other reasons {others:,.0f}")
    total = sum(n for n, _ in ranked)
    return (f"  {readings_per_s:,.0f} readings/s, published {outputs_per_s:,.0f}/s, "
            f"{partitions} partitions, lag {lag:,.0f}, dead letters {total:,.0f}"
            + (f" ({', '.join(reasons)})" if reasons else "")
            + (f", close->ack p99 {p99_s * 1000:.0f} ms" if p99_s is not None else "")
            + broker)
