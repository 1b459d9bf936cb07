"""Stream a simulated city into the reading topics, paced against a clock.

``speedup`` 0 sends as fast as the sink takes it; 1 sends each reporting interval when its
event time has elapsed on the wall clock since the start; X compresses time X-fold. Records
carry their event time as the Kafka timestamp. JSON sends one record per reading keyed by
region (roads) or spot id (spots); Arrow sends one frame per interval and region (roads) or
spot (spots), with the same keys, so a sensor's or a spot's readings always share a
partition. A stop request (SIGINT/SIGTERM in the main thread, or the ``stop`` event) lets the
interval being sent finish, flushes, and returns the statistics.

Into Kafka a record is never sent before its timestamp has passed on the wall clock: a broker
refuses records stamped far ahead of its own clock (Kafka 4: more than an hour), and
``flowcast run`` dead-letters readings from the future. A stream faster than real time (or
unpaced) that reaches the wall clock goes on in real time from there.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Protocol

from flowcast.city import City
from flowcast.config import Settings
from flowcast.errors import FlowcastUserError
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.codec import (
    ARROW_HEADERS,
    encode_road_arrow_by_region,
    encode_road_json,
    encode_spot_arrow_by_spot,
    encode_spot_json,
    road_keys,
    spot_keys,
)
from flowcast.progress import progress_bar
from flowcast.transport.kafka_client import admin_client
from flowcast.transport.sinks import KafkaSink, RecordSink, SinkError

FORMATS = ("json", "arrow")
_FLUSH_EVERY_S = 5.0  # unpaced: surface delivery failures at least this often


class SimulatorLike(Protocol):
    """What streaming needs from :class:`flowcast.ingest.simulator.Simulator`."""

    city: City
    now_ms: int
    report_interval_s: int

    def batches(self, until: datetime | None = None
                ) -> Iterator[tuple[int, RoadBatch, SpotBatch]]:
        """(interval end ts_ms, road readings, spot readings) per reporting interval."""
        ...


class Clock(Protocol):
    """Time for pacing: a monotonic reading in seconds, the wall clock, and a sleep."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin."""
        ...

    def time(self) -> float:
        """The wall clock: seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (may return early when a stop is requested)."""
        ...


class RealClock:
    """The process clock; sleeping ends early when ``stop`` is set."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Wait on the stop event for up to ``seconds``."""
        self.stop.wait(seconds)


@dataclass
class StreamStats:
    """What a stream sent: reporting intervals, readings, Kafka records, value bytes, and
    the wall-clock seconds it took."""

    intervals: int = 0
    readings: int = 0
    records: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        """Readings per wall-clock second."""
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        """One line for a person."""
        return (f"sent {self.readings:,} readings in {self.records:,} records "
                f"({self.bytes / 1e6:,.1f} MB, {self.intervals:,} intervals) in "
                f"{self.elapsed_s:,.1f} s: {self.rate:,.0f} readings/s")


def stream_to_kafka(sim: SimulatorLike, bootstrap: str, until: datetime | None, speedup: float,
                    fmt: str, settings: Settings) -> StreamStats:
    """Stream ``sim`` into the Kafka cluster at ``bootstrap``, never ahead of the wall clock;
    see :func:`stream_simulation`. Records the cluster did not take end the stream with a
    one-line :class:`FlowcastUserError` (how many, the first cause)."""
    _check(speedup, fmt)
    _require_topics(bootstrap, [settings.topics.road_readings, settings.topics.spot_readings])
    sink = KafkaSink.connect(bootstrap, client_id=settings.kafka.client_id)
    try:
        try:
            return stream_simulation(sim, sink, until, speedup, fmt, settings, never_ahead=True)
        finally:
            sink.close()
    except SinkError as err:
        why = " ".join(str(err).split())  # a broker's message may span lines
        raise FlowcastUserError(f"the stream into Kafka at {bootstrap} stopped: {why}"
                                ) from None


def stream_simulation(sim: SimulatorLike, sink: RecordSink, until: datetime | None,
                      speedup: float, fmt: str, settings: Settings, *,
                      clock: Clock | None = None, stop: threading.Event | None = None,
                      progress: bool | None = None, never_ahead: bool = False) -> StreamStats:
    """Send the simulator's intervals, in event-time order, to the reading topics of
    ``settings``, until ``until`` (None: until stopped).

    ``speedup``: 0 unpaced, 1 real time, X X-fold; an interval ending ``d`` seconds of event
    time after the simulator's start is sent ``d / speedup`` seconds after the call began.
    ``fmt``: ``json`` or ``arrow``. ``clock`` defaults to the real clock; ``stop`` ends the
    stream after the current interval (SIGINT/SIGTERM set it when called in the main
    thread). ``progress``: show a progress bar on a terminal (default: when unpaced with an
    ``until``). ``never_ahead``: send no interval before its end has passed on
    ``clock.time()`` (for a broker, whose clock is the wall clock); pacing that would run
    ahead of it waits instead, so the stream goes on in real time from there.
    """
    _check(speedup, fmt)
    stop = stop or threading.Event()
    clock = clock or RealClock(stop)
    if progress is None:
        progress = speedup == 0 and until is not None
    stats = StreamStats()
    origin_event_ms, origin_wall = sim.now_ms, clock.monotonic()
    last_flush = origin_wall
    bar = progress_bar(total=_interval_count(sim, until), unit="interval", enabled=progress)
    with _stop_on_signals(stop), bar:
        for ts_ms, road, spots in sim.batches(until):
            wait = 0.0
            if speedup > 0:
                wait = (origin_wall + (ts_ms - origin_event_ms) / 1000.0 / speedup
                        - clock.monotonic())
            if never_ahead:
                wait = max(wait, ts_ms / 1000.0 - clock.time())
            if wait > 0:
                clock.sleep(wait)
            if stop.is_set():
                break
            _send_interval(sink, sim.city, ts_ms, road, spots, fmt, settings, stats)
            bar.update(1)
            now = clock.monotonic()
            if speedup > 0 or now - last_flush >= _FLUSH_EVERY_S:
                sink.flush()
                last_flush = now
                bar.set_postfix_str(f"{stats.readings / max(now - origin_wall, 1e-9):,.0f} "
                                    "readings/s", refresh=False)
            if stop.is_set():
                break
        sink.flush()
    stats.elapsed_s = clock.monotonic() - origin_wall
    return stats


def _send_interval(sink: RecordSink, city: City, ts_ms: int, road: RoadBatch,
                   spots: SpotBatch, fmt: str, settings: Settings, stats: StreamStats) -> None:
    """Encode one interval's readings and send them; counts into ``stats``."""
    topics = settings.topics
    if fmt == "json":
        _send_json(sink, topics.road_readings, road_keys(road, city),
                   encode_road_json(road, city), road.ts_ms.tolist(), stats)
        _send_json(sink, topics.spot_readings, spot_keys(spots, city),
                   encode_spot_json(spots, city), spots.ts_ms.tolist(), stats)
    else:
        for topic, frames in ((topics.road_readings, encode_road_arrow_by_region(road, city)),
                              (topics.spot_readings, encode_spot_arrow_by_spot(spots, city))):
            for key, frame in frames:
                sink.send(topic, key, frame, ARROW_HEADERS, ts_ms)
                stats.bytes += len(frame)
            stats.records += len(frames)
    stats.readings += len(road) + len(spots)
    stats.intervals += 1


def _send_json(sink: RecordSink, topic: str, keys: list[bytes], values: list[bytes],
               times: list[int], stats: StreamStats) -> None:
    send = sink.send
    for key, value, ts in zip(keys, values, times, strict=True):
        send(topic, key, value, None, ts)
    stats.records += len(values)
    stats.bytes += sum(map(len, values))


def _require_topics(bootstrap: str, topics: list[str]) -> None:
    """Fail fast, with the fix, when the reading topics do not exist (a producer would
    otherwise wait a minute for their metadata and then fail obscurely)."""
    admin = admin_client(bootstrap)
    try:
        missing = sorted(set(topics) - set(admin.list_topics()))
    finally:
        admin.close()
    if missing:
        raise FlowcastUserError(
            f"topic(s) {', '.join(missing)} do not exist on {bootstrap}; create them with "
            f"'flowcast topics create --kafka {bootstrap}'")


def _check(speedup: float, fmt: str) -> None:
    if fmt not in FORMATS:
        raise FlowcastUserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not speedup >= 0 or math.isinf(speedup):
        raise FlowcastUserError(f"--speedup must be 0 (unpaced) or a positive number, "
                                f"got {speedup}")


def _interval_count(sim: SimulatorLike, until: datetime | None) -> int | None:
    """How many intervals remain until ``until`` (for the progress bar)."""
    if until is None:
        return None
    if until.tzinfo is None:  # the simulator reads naive times as the city's local time
        until = until.replace(tzinfo=sim.city.zone)
    span_ms = until.timestamp() * 1000.0 - sim.now_ms
    return max(0, math.ceil(span_ms / (sim.report_interval_s * 1000.0)))


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """In the main thread, let SIGINT/SIGTERM set ``stop`` (a second SIGINT interrupts)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
