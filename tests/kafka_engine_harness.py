"""Helpers for the tests that run `flowcast run` as real processes against a real broker:
the processes, the simulated stream, readers of the output topics, and the clean run every
fault test compares its outputs with, value for value."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from engine_harness import conditions_by_issue, quiet_simulator, small_city
from kafka import KafkaAdminClient, KafkaConsumer

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.formats.city_write import save_city
from flowcast.ingest.simulator import Simulator
from flowcast.ingest.stream import stream_simulation
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink, KafkaSink
from flowcast.transport.topics import create_topics, topic_specs

BUCKET_MS = 300_000
HOURS = 2
PARTITIONS = 4
IDLE_TIMEOUT_S = 2
LATENESS_S = 5


def process_settings(settings: Settings) -> Settings:
    """``settings`` as the engine processes run with them (the file :func:`write_config`
    writes): start from the earliest offset, 500-record polls, 2 s idle timeout, 5 s
    lateness."""
    data = settings.model_dump()
    data["engine"].update({"start_from": "earliest", "poll_max_records": 500})
    data["time"].update({"idle_timeout_s": IDLE_TIMEOUT_S, "allowed_lateness_s": LATENESS_S})
    return Settings.model_validate(data)


def write_config(path: Path, settings: Settings, **kafka: Any) -> Path:
    """A ``flowcast.toml`` for ``settings``' broker, topics and group; ``kafka`` adds keys to
    ``[kafka]`` (e.g. ``instance_id="a"``)."""
    t = settings.topics
    extra = "".join(f'{k} = {orjson.dumps(v).decode()}\n' for k, v in kafka.items())
    path.write_text(
        f'[kafka]\nbootstrap = "{settings.kafka.bootstrap}"\n'
        f'group_id = "{settings.kafka.group_id}"\n{extra}'
        f'[topics]\nroad_readings = "{t.road_readings}"\nspot_readings = "{t.spot_readings}"\n'
        f'road_conditions = "{t.road_conditions}"\nspot_forecasts = "{t.spot_forecasts}"\n'
        f'spot_alerts = "{t.spot_alerts}"\ndeadletter = "{t.deadletter}"\n'
        '[engine]\nstart_from = "earliest"\npoll_max_records = 500\n'
        f'[time]\nidle_timeout_s = {IDLE_TIMEOUT_S}\nallowed_lateness_s = {LATENESS_S}\n',
        encoding="utf-8")
    return path


class Processes:
    """`flowcast run` processes started by a test, killed at its end whatever happens."""

    def __init__(self, tmp: Path, config: Path, city: Path) -> None:
        self.tmp, self.config, self.city = tmp, config, city
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *extra: str, config: Path | None = None
              ) -> subprocess.Popen[bytes]:
        """Start ``flowcast run`` logging to ``<tmp>/<name>.log`` (appended to on restarts)."""
        log = (self.tmp / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowcast", "run", "--config", str(config or self.config),
             "--city", str(self.city), "--status-every", "2", *extra],
            stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"})
        self.running.append(proc)
        return proc

    def log(self, name: str) -> str:
        """What process ``name`` printed so far."""
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, name: str) -> str | None:
        """The HTTP address process ``name`` serves (started with ``--port 0``), once known."""
        found = re.findall(r"serving (http://127\.0\.0\.1:\d+)/screen", self.log(name))
        return found[-1] if found else None

    def logs(self) -> str:
        """The tail of every process's log, for failure messages."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in
                         sorted(self.tmp.glob("*.log")))

    def stop_all(self) -> None:
        """Kill what still runs."""
        for proc in self.running:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@dataclass
class World:
    """A test's broker settings, city and engine processes."""

    settings: Settings
    city: City
    procs: Processes


def make_world(tmp_path: Path, settings: Settings, admin: KafkaAdminClient) -> World:
    """Create ``settings``' topics (4 partitions), write the city and the config."""
    create_topics(admin, topic_specs(settings.topics, partitions=PARTITIONS))
    city = small_city()
    city_file = tmp_path / "city.geojson"
    save_city(city, city_file)
    config = write_config(tmp_path / "flowcast.toml", settings)
    return World(settings, city, Processes(tmp_path, config, city_file))


def kill_9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and reap it."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def start_time(hours: int = HOURS) -> dt.datetime:
    """A bucket-aligned start ``hours`` + 1 hours ago: the stream ends an hour before now."""
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(hours=hours + 1)
    return start.replace(minute=start.minute - start.minute % 5, second=0, microsecond=0)


def stream(settings: Settings, sim: Simulator, until: dt.datetime, speedup: float) -> None:
    """Send ``sim``'s readings up to ``until`` to the broker (``speedup`` 0: unpaced)."""
    sink = KafkaSink.connect(settings.kafka)
    stream_simulation(sim, sink, until, speedup, "json", settings, progress=False)
    sink.close()


def stream_in_background(settings: Settings, city: City, start: dt.datetime,
                         speedup: float, hours: int = HOURS) -> threading.Thread:
    """Stream ``hours`` of the quiet simulator from ``start`` in a thread."""
    sim = quiet_simulator(city, start)
    thread = threading.Thread(
        target=stream, args=(settings, sim, start + dt.timedelta(hours=hours), speedup),
        daemon=True)
    thread.start()
    return thread


def read_all(settings: Settings, topic: str) -> list[Any]:
    """Every record of ``topic``, from the beginning."""
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka.bootstrap,
                             group_id=f"reader-{uuid.uuid4()}", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1500)
    records = list(consumer)
    consumer.close()
    return records


def expected_issues(start: dt.datetime, hours: int = HOURS) -> set[int]:
    """The issue times (bucket ends, epoch ms) of ``hours`` of readings from ``start``."""
    first = int(start.timestamp() * 1000)
    return set(range(first + BUCKET_MS, first + hours * 3_600_000 + 1, BUCKET_MS))


def wait_for(condition: Callable[[], Any], timeout_s: float, procs: Processes,
             what: str) -> float:
    """Poll ``condition`` every half second; returns the seconds it took, fails the test with
    every process's log after ``timeout_s``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if condition():
            return time.monotonic() - began
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{procs.logs()}")


def complete(settings: Settings, city: City, expected: set[int]) -> bool:
    """Whether every segment has a condition for every expected issue time."""
    messages = conditions_by_issue(read_all(settings, settings.topics.road_conditions))
    segments = set(city.segment_ids.tolist())
    return all(set(messages.get(i, {})) == segments for i in expected)


def assert_repeats_identical(records: list[Any]) -> None:
    """Outputs repeated after a crash carry the same bytes as the first time."""
    seen: dict[tuple[bytes, int], bytes] = {}
    for record in records:
        issued = orjson.loads(record.value)["issued_at"]
        assert seen.setdefault((record.key, issued), record.value) == record.value


def http_status(url: str | None, path: str) -> int | None:
    """The status of GET ``url + path``, None when nothing answers."""
    if url is None:
        return None
    try:
        return httpx.get(f"{url}{path}", timeout=3).status_code
    except httpx.HTTPError:
        return None


def metric(url: str | None, name: str) -> float | None:
    """The value of an unlabelled series on ``url``/metrics, None when absent."""
    if url is None:
        return None
    try:
        text = httpx.get(f"{url}/metrics", timeout=3).text
    except httpx.HTTPError:
        return None
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def clean_conditions(settings: Settings, city: City,
                     skip: Callable[[Any], bool] = lambda record: False
                     ) -> dict[int, dict[str, bytes]]:
    """The road conditions a clean run gives for what the reading topics hold: the same
    records, in the same partitions and order (less those ``skip`` names), through one
    undisturbed in-process engine run with :func:`process_settings`, then ten minutes of
    silence on its clock."""
    bus = Bus(default_partitions=PARTITIONS, retention=10_000_000)
    for topic in settings.topics.all_names():
        bus.create_topic(topic)
    for topic in (settings.topics.road_readings, settings.topics.spot_readings):
        for r in read_all(settings, topic):
            if not skip(r):
                bus.append(topic, r.value, r.key, list(r.headers or []), r.partition,
                           r.timestamp)
    clock = EventClock(int(time.time() * 1000))
    consumer = bus.consumer(group_id="clean", enable_auto_commit=False,
                            auto_offset_reset="earliest")
    engine = Engine(city, process_settings(settings), consumer, [BusSink(bus)], clock=clock)
    engine.subscribe()
    quiet = 0
    while quiet < 3:
        quiet = quiet + 1 if engine.step().records == 0 else 0
    clock.ms += 10 * 60_000
    engine.step()
    engine.step()
    reader = bus.consumer(settings.topics.road_conditions, group_id="reader",
                          auto_offset_reset="earliest")
    records: list[Any] = []
    while polled := reader.poll(timeout_ms=50, max_records=100_000):
        for batch in polled.values():
            records += batch
    return conditions_by_issue(records)


def assert_same_values(settings: Settings, clean: dict[int, dict[str, bytes]],
                       issues: Iterable[int]) -> int:
    """Every (segment, issue time) the broker's conditions topic holds for ``issues`` equals
    the clean run's bytes; returns how many were compared."""
    got = conditions_by_issue(read_all(settings, settings.topics.road_conditions))
    compared = 0
    differing = []
    for issued_at in sorted(issues):
        for segment, value in clean[issued_at].items():
            compared += 1
            if got.get(issued_at, {}).get(segment) != value:
                differing.append((issued_at, segment))
    if differing:
        issued_at, segment = differing[0]
        pytest.fail(f"{len(differing)} of {compared} values differ from a clean run, at issue "
                    f"times {sorted({i for i, _ in differing})}; the first, {segment}:\n"
                    f"clean: {clean[issued_at][segment]!r}\n"
                    f"got:   {got.get(issued_at, {}).get(segment)!r}", pytrace=False)
    return compared
