"""Streaming the simulator: over the in-process bus with a fake clock, and into a real broker."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from flowcast.city import City
from flowcast.config import Settings
from flowcast.errors import FlowcastUserError
from flowcast.ingest import stream
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.simulator import Simulator, generate_city
from flowcast.ingest.stream import stream_simulation, stream_to_kafka
from flowcast.ingest.wire.codec import ARROW_HEADERS, decode_road_records, decode_spot_records
from flowcast.transport.bus.broker import Bus
from flowcast.transport.kafka_client import make_consumer
from flowcast.transport.sinks import BusSink, SinkError

START = datetime(2025, 11, 24, 8, 0, tzinfo=UTC)
SETTINGS = Settings()
ROAD_TOPIC = SETTINGS.topics.road_readings
SPOT_TOPIC = SETTINGS.topics.spot_readings


class FakeClock:
    """Time that only moves when slept on; remembers every sleep. The wall clock reads
    ``wall`` (epoch seconds, default an hour after START) when the clock starts."""

    def __init__(self, wall: datetime = START + timedelta(hours=1)) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []
        self._wall_offset = wall.timestamp() - self.now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self._wall_offset

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(80, 3, seed=5)


def simulator(city: City) -> Simulator:
    return Simulator(city, START, seed=9)


def expected(city: City, until: datetime) -> tuple[RoadBatch, SpotBatch]:
    """What the simulator produces, concatenated (it is deterministic)."""
    return simulator(city).step_until(until)


def consume_all(bus: Bus, topic: str) -> list[Any]:
    consumer = bus.consumer(topic, group_id="check", auto_offset_reset="earliest")
    records = []
    while batch := consumer.poll(max_records=100_000):
        records += [r for rs in batch.values() for r in rs]
    return sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))


def canonical(batch: RoadBatch | SpotBatch) -> RoadBatch | SpotBatch:
    """The batch sorted by (time, id), to compare regardless of partition interleaving."""
    ids = batch.sensor if isinstance(batch, RoadBatch) else batch.spot
    return batch.take(np.lexsort((ids, batch.ts_ms)))


def assert_same(a: RoadBatch | SpotBatch, b: RoadBatch | SpotBatch, atol: float) -> None:
    a, b = canonical(a), canonical(b)
    assert len(a) == len(b)
    for name in a.__dataclass_fields__:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol, err_msg=name)


def test_json_stream_over_bus_unpaced(city: City) -> None:
    bus, clock = Bus(default_partitions=3), FakeClock()
    until = START + timedelta(minutes=30)
    stats = stream_simulation(simulator(city), BusSink(bus), until, 0, "json", SETTINGS,
                              clock=clock, progress=False)
    road, spots = expected(city, until)
    assert clock.sleeps == []
    assert stats.intervals == 30 and stats.readings == len(road) + len(spots)
    assert stats.records == stats.readings and stats.bytes > 0
    records = consume_all(bus, ROAD_TOPIC)
    result = decode_road_records([r.value for r in records], [r.headers for r in records], city)
    assert len(result.rejects) == 0
    assert_same(result.batch, road, atol=0.051)  # JSON keeps 0.1 vehicle, 0.1 km/h
    regions = city.regions[city.sensor_region[result.batch.sensor]]
    assert [r.key for r in records] == [str(g).encode() for g in regions]
    np.testing.assert_array_equal([r.timestamp for r in records], result.batch.ts_ms)
    spot_records = consume_all(bus, SPOT_TOPIC)
    decoded = decode_spot_records([r.value for r in spot_records], None, city).batch
    assert_same(decoded, spots, atol=0.5)
    assert [r.key for r in spot_records] == [city.spot_ids[s].encode() for s in decoded.spot]


def test_arrow_stream_sends_one_frame_per_region_and_interval(city: City) -> None:
    bus = Bus(default_partitions=4)
    until = START + timedelta(minutes=20)
    stats = stream_simulation(simulator(city), BusSink(bus), until, 0, "arrow", SETTINGS,
                              clock=FakeClock(), progress=False)
    road, spots = expected(city, until)
    records = consume_all(bus, ROAD_TOPIC)
    assert all(r.headers == ARROW_HEADERS for r in records)
    per_interval = {(r.timestamp, r.key) for r in records}
    assert len(per_interval) == len(records)  # no (interval, region) twice
    for record in records:
        frame = decode_road_records([record.value], [record.headers], city).batch
        assert {str(city.regions[g]).encode() for g in city.sensor_region[frame.sensor]} \
            == {record.key}
        assert set(frame.ts_ms.tolist()) == {record.timestamp}
    result = decode_road_records([r.value for r in records], [r.headers for r in records], city)
    assert_same(result.batch, road, atol=0)  # Arrow is exact
    spot_records = consume_all(bus, SPOT_TOPIC)
    decoded = decode_spot_records([r.value for r in spot_records], None, city).batch
    assert_same(decoded, spots, atol=0)
    assert stats.records == len(records) + len(spot_records)
    assert stats.readings == len(road) + len(spots)


@pytest.mark.parametrize("speedup", [1.0, 60.0])
def test_pacing_follows_event_time(city: City, speedup: float) -> None:
    clock = FakeClock()
    start_wall = clock.now
    until = START + timedelta(minutes=10)
    stats = stream_simulation(simulator(city), BusSink(Bus()), until, speedup, "arrow",
                              SETTINGS, clock=clock, progress=False)
    interval = 60.0 / speedup
    assert stats.intervals == 10
    assert clock.sleeps == pytest.approx([interval] * 10)
    assert clock.now - start_wall == pytest.approx(600.0 / speedup)
    assert stats.elapsed_s == pytest.approx(600.0 / speedup)


def test_pacing_catches_up_when_sending_is_slow(city: City) -> None:
    clock = FakeClock()

    class SlowSink(BusSink):
        def flush(self, timeout: float | None = None) -> None:
            clock.now += 1.5  # each interval costs 1.5 s of wall time at 60x (1 s budget)

    until = START + timedelta(minutes=4)
    stream_simulation(simulator(city), SlowSink(Bus()), until, 60.0, "arrow", SETTINGS,
                      clock=clock, progress=False)
    assert clock.sleeps == pytest.approx([1.0])  # only before the first; then behind, no sleep


def test_stop_finishes_the_interval_and_flushes(city: City) -> None:
    stop = threading.Event()
    flushed: list[int] = []

    class StoppingSink(BusSink):
        sends = 0

        def send(self, *args: object, **kwargs: object) -> None:
            super().send(*args, **kwargs)  # type: ignore[arg-type]
            self.sends += 1
            if self.sends == 5:
                stop.set()  # mid-interval: the interval must still complete

        def flush(self, timeout: float | None = None) -> None:
            flushed.append(self.sends)

    bus = Bus()
    sink = StoppingSink(bus)
    stats = stream_simulation(simulator(city), sink, None, 0, "json", SETTINGS,
                              clock=FakeClock(), stop=stop, progress=False)
    first_road, first_spots = simulator(city).step()[1:]
    assert stats.intervals == 1
    assert stats.readings == len(first_road) + len(first_spots) == sink.sends
    assert flushed and flushed[-1] == sink.sends


def test_unbounded_stream_runs_until_stopped(city: City) -> None:
    stop = threading.Event()
    clock = FakeClock()

    class StopAfter(FakeClock):
        def sleep(self, seconds: float) -> None:
            clock.sleep(seconds)
            if len(clock.sleeps) == 7:
                stop.set()  # like SIGINT while waiting for the next interval

        def monotonic(self) -> float:
            return clock.monotonic()

    stats = stream_simulation(simulator(city), BusSink(Bus()), None, 1.0, "arrow", SETTINGS,
                              clock=StopAfter(), stop=stop, progress=False)
    assert stats.intervals == 6  # the 7th interval had not happened yet when stopped


@pytest.mark.parametrize(("speedup", "fmt"), [(-1.0, "json"), (float("nan"), "json"),
                                              (1.0, "csv")])
def test_bad_arguments_are_user_errors(city: City, speedup: float, fmt: str) -> None:
    with pytest.raises(FlowcastUserError):
        stream_simulation(simulator(city), BusSink(Bus()), None, speedup, fmt, SETTINGS,
                          clock=FakeClock())


@pytest.mark.kafka
@pytest.mark.parametrize("fmt", ["json", "arrow"])
def test_stream_into_kafka_and_back(kafka_settings: Settings, kafka_admin: KafkaAdminClient,
                                    city: City, fmt: str) -> None:
    topics = kafka_settings.topics
    kafka_admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1)
                               for t in (topics.road_readings, topics.spot_readings)])
    until = START + timedelta(minutes=15)
    stats = stream_to_kafka(simulator(city), kafka_settings.kafka.bootstrap, until, 0, fmt,
                            kafka_settings)
    road, spots = expected(city, until)
    assert stats.readings == len(road) + len(spots)

    consumer = make_consumer(kafka_settings.kafka, topics.road_readings, topics.spot_readings)
    got: dict[str, list[Any]] = {topics.road_readings: [], topics.spot_readings: []}
    deadline = time.monotonic() + 60
    while sum(map(len, got.values())) < stats.records and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=1_000).items():
            got[tp.topic] += records
    consumer.close()
    assert sum(map(len, got.values())) == stats.records

    road_records = got[topics.road_readings]
    result = decode_road_records([r.value for r in road_records],
                                 [r.headers for r in road_records], city)
    assert len(result.rejects) == 0
    assert_same(result.batch, road, atol=0.051 if fmt == "json" else 0)
    for record in road_records:  # every record keyed by the region of its readings
        part = decode_road_records([record.value], [record.headers], city).batch
        assert {str(city.regions[g]).encode() for g in city.sensor_region[part.sensor]} \
            == {record.key}
        assert record.timestamp == int(part.ts_ms.max())
    spot_records = got[topics.spot_readings]
    decoded = decode_spot_records([r.value for r in spot_records],
                                  [r.headers for r in spot_records], city).batch
    assert_same(decoded, spots, atol=0.5 if fmt == "json" else 0)


def test_sigint_stops_gracefully_and_restores_the_handler(city: City) -> None:
    before = signal.getsignal(signal.SIGINT)

    class InterruptingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 3:
                os.kill(os.getpid(), signal.SIGINT)  # a person presses Ctrl-C

    stats = stream_simulation(simulator(city), BusSink(Bus()), None, 1.0, "json", SETTINGS,
                              clock=InterruptingClock(), progress=False)
    assert stats.intervals == 2
    assert signal.getsignal(signal.SIGINT) is before


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_when_unpaced_with_an_end_on_a_terminal(
        city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    until = START + timedelta(minutes=5)
    stream_simulation(simulator(city), BusSink(Bus()), until, 0, "arrow", SETTINGS,
                      clock=FakeClock())
    assert "5/5" in terminal.getvalue()


def test_no_progress_bar_when_stderr_is_no_terminal(city: City,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    until = START + timedelta(minutes=5)
    stream_simulation(simulator(city), BusSink(Bus()), until, 0, "arrow", SETTINGS,
                      clock=FakeClock())
    assert capsys.readouterr().err == ""


class WallCheckingSink(BusSink):
    """Remembers, for every record, its timestamp and the wall clock when it was sent."""

    def __init__(self, bus: Bus, clock: FakeClock) -> None:
        super().__init__(bus)
        self.clock = clock
        self.sent: list[tuple[int, float]] = []

    def send(self, topic: str, key: bytes | None, value: bytes,
             headers: list[tuple[str, bytes]] | None = None,
             timestamp_ms: int | None = None) -> None:
        assert timestamp_ms is not None
        self.sent.append((timestamp_ms, self.clock.time() * 1000))
        super().send(topic, key, value, headers, timestamp_ms)


@pytest.mark.parametrize(("speedup", "fmt"), [(60.0, "arrow"), (0.0, "json")])
def test_never_ahead_never_sends_a_record_before_its_time(city: City, speedup: float,
                                                          fmt: str) -> None:
    # the stream starts 30 minutes before the wall clock and runs on 30 minutes past it
    clock = FakeClock(wall=START + timedelta(minutes=30))
    sink = WallCheckingSink(Bus(), clock)
    stats = stream_simulation(simulator(city), sink, START + timedelta(hours=1), speedup, fmt,
                              SETTINGS, clock=clock, progress=False, never_ahead=True)
    assert stats.intervals == 60 and sink.sent
    assert all(stamp <= wall for stamp, wall in sink.sent)
    # once caught up with the wall clock it went on in real time: one interval a minute
    assert clock.sleeps[-10:] == pytest.approx([60.0] * 10)
    assert clock.time() == pytest.approx((START + timedelta(hours=1)).timestamp())


def test_without_never_ahead_pacing_alone_decides(city: City) -> None:
    clock = FakeClock(wall=START)  # the wall clock would hold every interval back
    stream_simulation(simulator(city), BusSink(Bus()), START + timedelta(minutes=10), 60.0,
                      "arrow", SETTINGS, clock=clock, progress=False)
    assert clock.sleeps == pytest.approx([1.0] * 10)


def test_undelivered_records_are_one_line_saying_how_many_and_why(
        city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    class RefusingSink(BusSink):
        def flush(self, timeout: float | None = None) -> None:
            raise SinkError("3 record(s) were not delivered; first: InvalidRecordError('[Error "
                            "87] Timestamp 1790000000000 of message with offset 0 is out of\n"
                            "range')")

    monkeypatch.setattr(stream, "_require_topics", lambda bootstrap, topics: None)
    monkeypatch.setattr(stream.KafkaSink, "connect",
                        classmethod(lambda cls, *args, **kwargs: RefusingSink(Bus())))
    with pytest.raises(FlowcastUserError) as caught:
        stream_to_kafka(simulator(city), "127.0.0.1:9092", START + timedelta(minutes=5), 0,
                        "arrow", SETTINGS)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the stream into Kafka at 127.0.0.1:9092 stopped: 3 record(s) "
                              "were not delivered; first: InvalidRecordError(")
    assert "out of range" in message
