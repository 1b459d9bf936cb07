"""``flowcast simulate``: a synthetic city, as a history dataset on disk or a live Kafka stream."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import click

from flowcast.city import City
from flowcast.cli.flags import Number, WholeNumber
from flowcast.cli.logs import setup_logging, verbose_option
from flowcast.errors import FlowcastUserError
from flowcast.formats.city_read import load_city
from flowcast.formats.city_write import save_city
from flowcast.formats.dataset import check_out_path

DEFAULT_START = "2026-09-28T00:00"  # local time: three workdays, then National Day's golden week
DEFAULT_DAYS = 7.0
DEFAULT_SENSORS = 500
DEFAULT_SPOTS = 6
FORMATS = ("json", "arrow")
CATCH_UP_DAYS = 1.0  # an open-ended --kafka stream faster than real time starts this far back


@dataclass
class Request:
    """The validated command line."""

    city_file: Path | None
    sensors: int
    spots: int
    city_out: Path | None
    start: str | None
    days: float | None
    seed: int
    out: Path | None
    force: bool
    kafka: str | None
    speedup: float
    fmt: str


@click.command("simulate")
@click.option("--city", "city_file", metavar="CITY", help="City registry (GeoJSON) to simulate.")
@click.option("--sensors", metavar="N", type=WholeNumber(min=1),
              help=f"Generate a city with N road sensors (default {DEFAULT_SENSORS}).")
@click.option("--spots", metavar="K", type=WholeNumber(min=1),
              help=f"Generated city: K scenic spots (default {DEFAULT_SPOTS}).")
@click.option("--city-out", metavar="CITY", help="Save the generated city registry here.")
@click.option("--start", metavar="ISO",
              help="Start, ISO 8601; without an offset it is the city's local time "
                   f"(default {DEFAULT_START} for --out). For --kafka it cannot be in the "
                   "future; the default makes a stream with --days end now, and starts one "
                   f"without --days now (in real time) or {CATCH_UP_DAYS:g} day back "
                   "(faster or unpaced).")
@click.option("--days", metavar="D", type=Number(min=0, max=3660, min_open=True),
              help=f"Days to simulate (default {DEFAULT_DAYS:g} for --out; for --kafka, "
                   "until stopped).")
@click.option("--seed", metavar="S", type=WholeNumber(min=0), default=0, show_default=True,
              help="Random seed; same seed, same data.")
@click.option("--out", metavar="DATASET", help="Write a history dataset to this directory.")
@click.option("--force", is_flag=True, help="Replace --out if it already holds a dataset.")
@click.option("--kafka", metavar="BOOTSTRAP", help="Stream live readings into this Kafka.")
@click.option("--speedup", metavar="X",
              type=Number(min=0, expects="0 (as fast as possible) or a positive number"),
              help="--kafka pacing: 1 real time (default), X times faster, 0 as fast as it "
                   "can; never ahead of the wall clock: a stream that reaches now goes on in "
                   "real time.")
@click.option("--format", "fmt", metavar="json|arrow",
              help="--kafka encoding: one JSON record per reading, or Arrow batch frames "
                   "(default arrow).")
@verbose_option
def simulate(city_file: str | None, sensors: int | None, spots: int | None,
             city_out: str | None, start: str | None, days: float | None, seed: int,
             out: str | None, force: bool, kafka: str | None, speedup: float | None,
             fmt: str | None) -> None:
    """Simulate a city's road detectors and scenic-spot gates.

    \b
    Examples:
      flowcast simulate --sensors 1000 --spots 5 --city-out city.geojson --out data/hist
      flowcast simulate --city city.geojson --start 2026-10-01 --days 3 --out data/gw
      flowcast simulate --city city.geojson --kafka 127.0.0.1:9092 --speedup 60
      flowcast simulate --city city.geojson --kafka 127.0.0.1:9092 --days 1 --speedup 0
    """
    setup_logging(logging.WARNING)
    request = _validate(city_file, sensors, spots, city_out, start, days, seed, out, force,
                        kafka, speedup, fmt)
    city = _city(request)
    begin = _start(request, city)
    if request.city_out is not None:
        _save_city(city, request.city_out)
    if request.out is not None:
        _write_history(request, city, begin)
    else:
        _stream(request, city, begin)


# ----- validation ------------------------------------------------------------------------


def _validate(city_file: str | None, sensors: int | None, spots: int | None,
              city_out: str | None, start: str | None, days: float | None, seed: int,
              out: str | None, force: bool, kafka: str | None, speedup: float | None,
              fmt: str | None) -> Request:
    """Check the flags' combination (click checked each number); every problem is one
    FlowcastUserError."""
    if out is None and kafka is None:
        raise FlowcastUserError("say where the simulation goes: --out DATASET (history on "
                                "disk) or --kafka BOOTSTRAP (live stream)")
    if out is not None and kafka is not None:
        raise FlowcastUserError("--out and --kafka cannot be combined; run once per target")
    if out is not None and (speedup is not None or fmt is not None):
        raise FlowcastUserError("--speedup and --format apply to --kafka only; drop them "
                                "with --out")
    if kafka is not None and force:
        raise FlowcastUserError("--force applies to --out only; drop it with --kafka")
    if kafka is not None and not kafka.strip():
        raise FlowcastUserError("--kafka needs a bootstrap address such as 127.0.0.1:9092")
    if kafka is not None:
        from flowcast.transport.kafka_client import bootstrap_of

        bootstrap_of(kafka)  # HOST:PORT[,...], before anything is generated or connected
    if city_file is not None and (sensors is not None or spots is not None
                                  or city_out is not None):
        raise FlowcastUserError("--city loads an existing city; --sensors, --spots and "
                                "--city-out generate a new one, so use one or the other")
    request = Request(
        city_file=Path(city_file) if city_file is not None else None,
        sensors=DEFAULT_SENSORS if sensors is None else sensors,
        spots=DEFAULT_SPOTS if spots is None else spots,
        city_out=Path(city_out) if city_out is not None else None,
        start=start,
        days=DEFAULT_DAYS if days is None and out is not None else days,
        seed=seed,
        out=Path(out) if out is not None else None,
        force=force,
        kafka=kafka,
        speedup=1.0 if speedup is None else speedup,
        fmt=_format(fmt),
    )
    if start is not None:
        parse_start(start, None)
    if request.out is not None:
        check_out_path(request.out, force)
    return request


def _format(text: str | None) -> str:
    if text is None:
        return "arrow"
    if text not in FORMATS:
        raise FlowcastUserError(f"--format must be json or arrow, got {text!r}")
    return text


def parse_start(text: str, city: City | None) -> dt.datetime:
    """An ISO 8601 date or date-time; without a UTC offset it is the city's local time
    (left naive when ``city`` is None)."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise FlowcastUserError(f"--start {text!r} is not an ISO 8601 date-time; write e.g. "
                                "2026-09-28T00:00+08:00 or 2026-09-28") from None
    if when.tzinfo is not None or city is None:
        return when
    return when.replace(tzinfo=city.zone)


# ----- actions -----------------------------------------------------------------------------


def _city(request: Request) -> City:
    """Load --city, or generate one."""
    if request.city_file is not None:
        return load_city(request.city_file)
    from flowcast.ingest.simulator import generate_city

    return generate_city(request.sensors, request.spots, request.seed)


def _start(request: Request, city: City, now_s: float | None = None) -> dt.datetime:
    """The run's start: --start, else the default (--out) or :func:`kafka_default_start`
    (--kafka), on the grid the simulator needs (15-minute buckets for --out, 5-minute gate
    intervals for --kafka). A --kafka start cannot lie after ``now_s`` (epoch seconds,
    default the wall clock)."""
    from flowcast.ingest.simulator import SimulatorConfig

    config = SimulatorConfig()
    grid_s = config.spot_bucket_s if request.out is not None else config.spot_interval_s
    now_s = time.time() if now_s is None else now_s
    if request.start is not None:
        start = parse_start(request.start, city)
    elif request.out is not None:
        start = parse_start(DEFAULT_START, city)
    else:
        start = dt.datetime.fromtimestamp(
            kafka_default_start(request.days, request.speedup, now_s, grid_s), city.zone)
    if int(start.timestamp()) % grid_s or start.microsecond:
        step = grid_s // 60
        raise FlowcastUserError(f"--start {request.start} must fall on a whole {step}-minute "
                                f"boundary, e.g. 08:00 or 08:{step:02d}")
    if request.kafka is not None and start.timestamp() > now_s:
        now = _local(dt.datetime.fromtimestamp(now_s, city.zone), city)
        raise FlowcastUserError(
            f"--start {request.start} is after now ({now} {city.timezone}); a stream into "
            "Kafka is never stamped ahead of the wall clock (the broker refuses such records "
            "and 'flowcast run' dead-letters them): choose an earlier --start or leave it out")
    return start


def kafka_default_start(days: float | None, speedup: float, now_s: float, grid_s: int) -> int:
    """Where a --kafka stream without --start begins, in epoch seconds on the ``grid_s`` grid:
    as far back as lets it run at ``speedup`` (0: unpaced) without getting ahead of the wall
    clock ``now_s``. With ``days`` it ends now: ``now - days`` unpaced, ``now - days * (1 -
    1/speedup)`` paced (now itself at real time or slower). Without ``days``: now at real time
    or slower; :data:`CATCH_UP_DAYS` back when faster or unpaced, so that it catches up with
    the wall clock and then goes on in real time."""
    if days is not None:
        span_s = days * 86_400
        lead_s = span_s if speedup == 0 else max(0.0, span_s * (1 - 1 / speedup))
    else:
        lead_s = CATCH_UP_DAYS * 86_400 if speedup == 0 or speedup > 1 else 0.0
    return int((now_s - lead_s) // grid_s * grid_s)


def describe_stream(city: City, bootstrap: str, start: dt.datetime, until: dt.datetime | None,
                    speedup: float, fmt: str, now_s: float) -> str:
    """The line that says what a --kafka stream sends: sensors and spots, the span of event
    time (city local time), where, in which format and how fast, and when it will have
    caught up with the wall clock ``now_s`` (epoch seconds) to go on in real time."""
    span = (f"from {_local(start, city)} to {_local(until, city)} {city.timezone}"
            if until is not None else f"from {_local(start, city)} {city.timezone} until stopped")
    pace = ("unpaced" if speedup == 0 else "in real time" if speedup == 1
            else f"at {speedup:g}x real time")
    line = (f"streaming {city.n_sensors:,} sensors, {city.n_spots} spots {span} into "
            f"{bootstrap} ({fmt}), {pace}")
    start_s, until_s = start.timestamp(), None if until is None else until.timestamp()
    if speedup == 0:
        meets_s: float | None = now_s
    elif speedup > 1:
        meets_s = (speedup * now_s - start_s) / (speedup - 1)  # event time = wall time
    else:
        meets_s = None
    if meets_s is not None and (until_s is None or meets_s < until_s):
        meets = dt.datetime.fromtimestamp(meets_s, city.zone)
        line += f", then in real time from about {_local(meets, city)} (it never runs ahead)"
    return line + "; Ctrl-C stops it"


def _save_city(city: City, path: Path) -> None:
    try:
        save_city(city, path)
    except OSError as err:
        raise FlowcastUserError(f"cannot write --city-out {path}: {err.strerror}") from None
    click.echo(f"wrote city {path}: {city.n_sensors:,} sensors on {city.n_segments:,} segments "
               f"in {city.n_regions} regions, {city.n_spots} spots, {len(city.screens)} "
               "guidance screens")


def _write_history(request: Request, city: City, start: dt.datetime) -> None:
    from flowcast.formats.dataset import save_dataset
    from flowcast.ingest.simulator import simulate_history

    assert request.out is not None and request.days is not None
    began = time.perf_counter()
    dataset = simulate_history(city, start, request.days, seed=request.seed)
    try:
        save_dataset(dataset, request.out, overwrite=request.force)
    except OSError as err:
        raise FlowcastUserError(f"cannot write --out {request.out}: {err.strerror}") from None
    end = start + dt.timedelta(days=request.days)
    size = sum(f.stat().st_size for f in request.out.rglob("*") if f.is_file())
    click.echo(
        f"wrote dataset {request.out}: {city.n_sensors:,} sensors, {city.n_spots} spots, "
        f"{_local(start, city)} to {_local(end, city)} {city.timezone} "
        f"({request.days:g} days), {size / 1e6:,.1f} MB on disk, "
        f"in {time.perf_counter() - began:,.1f} s")


def _stream(request: Request, city: City, start: dt.datetime) -> None:
    from flowcast.config import load_settings
    from flowcast.ingest.simulator import Simulator

    assert request.kafka is not None
    until = None if request.days is None else start + dt.timedelta(days=request.days)
    simulator = Simulator(city, start, seed=request.seed)
    if request.city_file is None and request.city_out is None:
        click.echo("note: the generated city is not saved; add --city-out CITY so that "
                   "'flowcast run --city CITY' can read this stream")
    settings = load_settings(overrides={"kafka": {"bootstrap": request.kafka}})
    click.echo(describe_stream(city, request.kafka, start, until, request.speedup, request.fmt,
                               time.time()))
    # ---- hand-over to the streaming module (flowcast.ingest.stream) ----
    from flowcast.ingest import stream

    stats = stream.stream_to_kafka(simulator, request.kafka, until, request.speedup,
                                   request.fmt, settings)
    click.echo(f"streamed {city.name} from {_local(start, city)} into {request.kafka}: "
               f"{stats.summary()}")


def _local(when: dt.datetime, city: City) -> str:
    return when.astimezone(city.zone).strftime("%Y-%m-%d %H:%M")
