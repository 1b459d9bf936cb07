"""``flowcast demo``: a simulated city through the real engine, with the pages, in one process.

The stages, each the production component:

1. :mod:`flowcast.cli.demo.prepare` builds (or reuses) a city, its history and a quick model;
2. the last day of history is streamed unpaced into the transport (the in-process bus, or a real
   Kafka cluster), so the engine has yesterday to forecast from;
3. the engine runs in a thread over the transport, on a clock that follows the stream's event
   time, and rebuilds its state from that history silently (as after any restart);
4. the live stream runs at ``speedup`` x real time (0: as fast as it goes) for ``minutes``
   simulated minutes or until Ctrl-C;
5. the serving side (:class:`flowcast.serve.service.Service`) feeds the HTTP API and the pages
   from the output topics, and :mod:`flowcast.cli.demo.report` prints every saturation alert
   (raised, updated, cancelled) in the terminal;
6. on Kafka, the run's topics and consumer group are deleted when it ends, however it ends
   (unless ``keep_topics``).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kafka.errors import KafkaError

from flowcast.cli.demo.clock import ClockingSink
from flowcast.cli.demo.prepare import DemoCity, Prepared, prepare
from flowcast.cli.demo.report import DemoSummary, TerminalReport
from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.engine.metrics import Metrics
from flowcast.errors import FlowcastUserError
from flowcast.ingest.simulator import Simulator
from flowcast.ingest.stream import stream_simulation
from flowcast.serve.service import Service
from flowcast.transport.backends import BusTransport, KafkaTransport, Transport

log = logging.getLogger("flowcast.cli.demo.app")

PRELOAD_DAYS = 1.25  # history streamed before the live part: yesterday plus the longest horizon


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo. ``minutes``: simulated minutes of live stream (None: until
    stopped); ``speedup``: simulated seconds per wall second (0: unpaced); ``port``: HTTP port
    (0: any free one); ``kafka``: a bootstrap address to run through a real broker;
    ``keep_topics``: leave the run's Kafka topics and group on the broker when it ends."""

    city: DemoCity = field(default_factory=DemoCity)
    workdir: Path = Path("out/demo")
    minutes: float | None = None
    speedup: float = 60.0
    host: str = "127.0.0.1"
    port: int = 8080
    kafka: str | None = None
    summary_file: Path | None = None
    keep_topics: bool = False


def check_port_free(host: str, port: int) -> None:
    """Refuse, with the fix, a port something else already listens on."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise FlowcastUserError(f"port {port} on {host} is already in use; pass another "
                                    "--port, or --port 0 for any free one") from None


def demo_settings(base: Settings, options: DemoOptions) -> Settings:
    """``base`` tuned for the demo: publish from where the stream is once history is rebuilt,
    idle watermarks in simulated time, a token for acknowledging alerts."""
    data = base.model_dump()
    data["engine"]["start_from"] = "latest"
    data["time"]["idle_timeout_s"] = max(int(data["time"]["idle_timeout_s"]), 120)
    data["http"]["host"] = options.host
    data["http"]["port"] = options.port
    if not data["http"]["token"]:
        data["http"]["token"] = secrets.token_urlsafe(12)
    if options.kafka:
        data["kafka"]["bootstrap"] = options.kafka
    settings = Settings.model_validate(data)
    return KafkaTransport.run_settings(settings) if options.kafka else settings


class Demo:
    """One demo run; :meth:`run` does everything and returns the summary."""

    def __init__(self, options: DemoOptions, settings: Settings,
                 echo: Callable[[str], None]) -> None:
        self.options = options
        self.settings = settings
        self.echo = echo
        self.metrics = Metrics()
        self.stop = threading.Event()
        self._engine_error: BaseException | None = None

    def run(self) -> DemoSummary:
        """Prepare, stream, serve; return what was published. On Kafka the run's topics and
        group are deleted when it ends (normally, on Ctrl-C or on an error) unless
        ``options.keep_topics``."""
        check_port_free(self.options.host, self.options.port)
        with _sigterm_as_ctrl_c():
            prepared = prepare(self.options.city, self.options.workdir, self.echo)
            start = self.options.city.start_time
            sim = Simulator(prepared.city, start - dt.timedelta(days=PRELOAD_DAYS),
                            seed=self.options.city.seed)
            transport = self._transport(sim.now_ms)
            try:
                return self._run_on(prepared, sim, transport, start)
            finally:
                self._clean_up(transport)

    def _run_on(self, prepared: Prepared, sim: Simulator, transport: Transport,
                start: dt.datetime) -> DemoSummary:
        """Stream the history, then serve and stream live until the end or a stop."""
        clock = EventClock(sim.now_ms)
        self.echo(f"streaming the last {PRELOAD_DAYS:g} days of history into the "
                  f"{transport.description} ...")
        stream_simulation(sim, ClockingSink(transport.sink(), clock), start, 0, "arrow",
                          self.settings, stop=self.stop, progress=True)
        if self.stop.is_set():  # Ctrl-C during the history: end here, not in the live part
            raise KeyboardInterrupt
        report = TerminalReport(prepared.city, self.echo)
        # the pages' view of the output topics, in the stream's time, reported in the terminal
        service = Service.start(prepared.city, self.settings, transport.view_consumer(),
                                metrics=self.metrics, clock_ms=clock.now_ms, listeners=[report])
        report.summary.url = service.url
        engine, engine_thread, drained = self._start_engine(prepared, transport, clock)
        try:
            self._wait_caught_up(engine)
            self._announce(prepared, report.summary.url)
            self._live(sim, transport, clock, start)
        finally:
            drained.set()
            engine_thread.join(timeout=60)
            self._settle(report)
            service.close()
        if self._engine_error is not None:
            raise RuntimeError("the engine stopped with an error") from self._engine_error
        report.summary.simulated_until = dt.datetime.fromtimestamp(
            clock.now_ms() / 1000, prepared.city.zone).isoformat()
        return report.summary

    # ----- stages ----------------------------------------------------------------------------
    def _transport(self, oldest_ms: int) -> Transport:
        if self.options.kafka:
            return KafkaTransport(self.settings, oldest_ms)
        return BusTransport(self.settings)

    def _clean_up(self, transport: Transport) -> None:
        """Delete the run's Kafka topics and consumer group, unless asked to keep them; a
        failure is reported with what to do, and does not hide how the run ended."""
        if not isinstance(transport, KafkaTransport):
            return
        where = f"{transport.topic_pattern} on {self.settings.kafka.bootstrap}"
        if self.options.keep_topics:
            self.echo(f"kept this run's topics {where} and consumer group "
                      f"{self.settings.kafka.group_id} (--keep-topics)")
            return
        try:
            deleted = transport.delete_run()
        except (FlowcastUserError, KafkaError) as err:
            self.echo(f"could not delete this run's topics {where} ({err}); delete them with "
                      "kafka-topics --delete")
            return
        group = self.settings.kafka.group_id
        if deleted.group_status == "OK":
            also = f" and consumer group {group}"
        elif deleted.group_status == "GroupIdNotFoundError":  # ended before it had a group
            also = ""
        else:
            also = f" (consumer group {group} not deleted: {deleted.group_status})"
        self.echo(f"deleted this run's {len(deleted.topics)} topics {where}{also}")

    def _start_engine(self, prepared: Prepared, transport: Transport, clock: EventClock
                      ) -> tuple[Engine, threading.Thread, threading.Event]:
        """The engine in a thread; set the returned event once the stream has ended."""
        models = None
        if prepared.model_dir is not None:
            from flowcast.engine.model_holder import ModelHolder

            models = ModelHolder.roads(prepared.model_dir,
                                       bucket_s=self.settings.time.road_bucket_s,
                                       metrics=self.metrics)
        engine = Engine(prepared.city, self.settings, transport.engine_consumer(),
                        [transport.sink()], metrics=self.metrics, clock=clock, models=models,
                        alerts_reader=transport.alerts_reader())
        drained = threading.Event()
        thread = threading.Thread(target=self._engine_loop, args=(engine, drained),
                                  name="flowcast-engine", daemon=True)
        thread.start()
        return engine, thread, drained

    def _wait_caught_up(self, engine: Engine, limit_s: float = 300.0) -> None:
        """Wait until the engine holds every reading partition and has rebuilt its state from
        the history, so the live stream (and every alert it raises) is published, not replayed
        silently as if an earlier run had published it."""
        topics = self.settings.topics
        expected = 2 * topics.partitions
        began = time.monotonic()
        while time.monotonic() - began < limit_s and not self.stop.is_set():
            workers = list(engine.workers.values())
            if len(workers) >= expected and not any(w.replaying for w in workers):
                return
            time.sleep(0.05)
        if not self.stop.is_set():
            raise RuntimeError(f"the engine did not take its partitions and rebuild its state "
                               f"within {limit_s:g} s")

    def _engine_loop(self, engine: Engine, drained: threading.Event) -> None:
        """Step until stopped; once the stream has ended, until three polls come back empty."""
        empty = 0
        try:
            engine.subscribe()
            while empty < 3:
                stats = engine.step()
                empty = empty + 1 if drained.is_set() and stats.records == 0 else 0
        except BaseException as err:  # reported by run() after the stream stops
            self._engine_error = err
            log.exception("engine failed")
            self.stop.set()
        finally:
            try:
                engine.close()
            except Exception:
                log.exception("engine close failed")

    def _announce(self, prepared: Prepared, url: str) -> None:
        screens = ", ".join(s.id for s in prepared.city.screens) or "none"
        self.echo("")
        self.echo(f"  guidance screen: {url}/screen   (screens: {screens})")
        self.echo(f"  tourism bureau:  {url}/bureau")
        self.echo(f"  API:             {url}/openapi.json   metrics: {url}/metrics")
        self.echo(f"  acknowledge token (bureau page): {self.settings.http.token}")
        span = (f"{self.options.minutes:g} simulated minutes" if self.options.minutes
                else "until Ctrl-C")
        pace = (f"{self.options.speedup:g}x real time" if self.options.speedup
                else "as fast as it goes")
        self.echo(f"  live stream from {self.options.city.start} at {pace}, {span}")
        self.echo("")

    def _live(self, sim: Simulator, transport: Transport, clock: EventClock,
              start: dt.datetime) -> None:
        until = (start + dt.timedelta(minutes=self.options.minutes)
                 if self.options.minutes else None)
        stream_simulation(sim, ClockingSink(transport.sink(), clock), until,
                          self.options.speedup, "arrow", self.settings, stop=self.stop,
                          progress=False)

    def _settle(self, report: TerminalReport, quiet_s: float = 1.0,
                limit_s: float = 20.0) -> None:
        """Wait until the view has read what the engine published (no news for ``quiet_s``)."""
        began = last_change = time.monotonic()
        seen = -1
        while time.monotonic() - began < limit_s:
            count = report.summary.conditions + report.summary.spot_forecasts
            if count != seen:
                seen, last_change = count, time.monotonic()
            elif time.monotonic() - last_change >= quiet_s:
                return
            time.sleep(0.1)


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """In the main thread, let SIGTERM end the run as Ctrl-C does (KeyboardInterrupt), so that
    the clean-up runs; Python's default for SIGTERM ends the process without it. (The streams
    put their own handler in while they run: there both signals stop the stream.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
