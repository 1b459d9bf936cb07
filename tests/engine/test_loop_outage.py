"""The engine through a broker outage, in process: every broker call fails for a while, the
producer's acknowledgements stop, and the group restarts the partitions from the committed
offsets when the broker returns. The engine keeps its state, reports itself not ready, backs
off, and publishes the same values as a run that saw no outage. (The same through a real broker
killed and restarted: tests/faults/test_broker_outage.py.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from engine_harness import conditions_by_issue, engine_test_settings, quiet_simulator, small_city
from kafka.errors import FencedInstanceIdError, KafkaConnectionError
from kafka.structs import TopicPartition

from flowcast.config import Settings
from flowcast.engine.clock import EventClock
from flowcast.engine.loop import Engine
from flowcast.errors import FlowcastUserError
from flowcast.ingest.stream import stream_simulation
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink, SinkTimeout

START = dt.datetime(2026, 10, 8, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
HOURS = 2


class FlakyConsumer:
    """A bus consumer whose broker calls raise while ``down``; coming back, it restarts every
    assigned partition from the group's committed offset, as kafka-python does after the
    rebalance that follows a broker restart."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False
        self.listener: Any = None

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self.listener = listener
        self.inner.subscribe(topics, listener=listener)

    def back_up(self) -> None:
        self.down = False
        assigned = set(self.inner.assignment())
        self.listener.on_partitions_revoked(assigned)
        for tp in assigned:
            committed = self.inner.committed(tp)
            self.inner.seek(tp, committed if committed is not None else 0)
        self.listener.on_partitions_assigned(assigned)

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.inner, name)
        if name not in {"poll", "commit", "end_offsets", "offsets_for_times", "committed"}:
            return call

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise KafkaConnectionError("connection reset by peer")
            return call(*args, **kwargs)
        return guarded


class FlakySink:
    """A producer whose records wait in its buffer, unacknowledged, while ``down``."""

    def __init__(self, bus: Bus) -> None:
        self.inner = BusSink(bus)
        self.down = False
        self.buffer: list[tuple[Any, ...]] = []

    def send(self, *record: Any) -> None:
        self.buffer.append(record)

    def flush(self, timeout: float | None = None) -> None:
        if self.down:
            raise SinkTimeout("no acknowledgement")
        for record in self.buffer:
            self.inner.send(*record)
        self.buffer = []

    def close(self) -> None:
        self.flush()


def _setup(city: Any) -> tuple[Settings, Bus, int]:
    settings = engine_test_settings(Settings(), poll_max_records=300)
    bus = Bus(default_partitions=4, retention=1_000_000)
    for topic in settings.topics.all_names():
        bus.create_topic(topic)
    stream_simulation(quiet_simulator(city, START), BusSink(bus),
                      START + dt.timedelta(hours=HOURS), 0.0, "json", settings)
    return settings, bus, int((START + dt.timedelta(hours=HOURS)).timestamp() * 1000)


def _drain(bus: Bus, topic: str) -> list[Any]:
    consumer = bus.consumer(topic, group_id="reader", auto_offset_reset="earliest")
    records: list[Any] = []
    while polled := consumer.poll(timeout_ms=50, max_records=100_000):
        for batch in polled.values():
            records += batch
    return records


def _finish(engine: Engine, clock: EventClock, end_ms: int) -> None:
    quiet = 0
    for _ in range(400):
        quiet = quiet + 1 if engine.step().records == 0 else 0
        if quiet == 3:
            break
    clock.ms = max(clock.ms, end_ms) + 10 * 60_000  # the city falls silent: the clock closes
    # the rest (ten minutes of silence after the last arrival, in both runs)
    engine.step()
    engine.step()


@pytest.fixture(scope="module")
def city() -> Any:
    return small_city()


def _engine(city: Any, settings: Settings, bus: Bus, clock: EventClock,
            group: str) -> tuple[Engine, FlakyConsumer, FlakySink]:
    consumer = FlakyConsumer(bus.consumer(group_id=group, enable_auto_commit=False,
                                          auto_offset_reset="earliest"))
    sink = FlakySink(bus)
    engine = Engine(city, settings, consumer, [sink], clock=clock)
    engine.subscribe()
    return engine, consumer, sink


def test_an_outage_mid_stream_changes_no_value_and_loses_nothing(city: Any) -> None:
    settings, bus, end_ms = _setup(city)
    clean_settings, clean_bus, _ = _setup(city)
    clean, _, _ = _engine(city, clean_settings, clean_bus, EventClock(end_ms), "clean")
    _finish(clean, clean.clock, end_ms)  # type: ignore[arg-type]
    expected = conditions_by_issue(_drain(clean_bus, settings.topics.road_conditions))

    clock = EventClock(end_ms)
    engine, consumer, sink = _engine(city, settings, bus, clock, "engine")
    for _ in range(12):  # part of the backlog, some outputs acknowledged
        engine.step()
    assert engine.is_ready()
    readings_before = engine.metrics.counter("flowcast_readings_total", kind="road")
    consumer.down = sink.down = True
    engine.step()  # outputs of the last step are stranded in the producer
    waits = [engine.step().retry_in_s for _ in range(6)]
    assert all(w is not None and w > 0 for w in waits)
    assert waits[-1] > waits[0]  # backing off
    assert not engine.is_ready() and not engine.link.connected
    assert engine.metrics.gauge("flowcast_broker_connected") == 0
    assert engine.metrics.counter("flowcast_broker_errors_total", error="KafkaConnectionError")
    assert engine.workers  # state kept
    clock.ms += 5 * 60_000  # minutes of silence on the clock: no watermark runs on meanwhile
    engine.step()
    consumer.back_up()
    sink.down = False
    _finish(engine, clock, end_ms)
    assert engine.is_ready() and engine.link.outages == 1
    assert engine.metrics.gauge("flowcast_broker_connected") == 1
    # every reading counted once, though the partitions restarted from the committed offsets
    clean_readings = clean.metrics.counter("flowcast_readings_total", kind="road")
    assert engine.metrics.counter("flowcast_readings_total", kind="road") == clean_readings
    assert readings_before < clean_readings
    got = conditions_by_issue(_drain(bus, settings.topics.road_conditions))
    assert set(got) == set(expected)
    for issued_at, by_segment in expected.items():
        assert got[issued_at] == by_segment, issued_at


def test_a_fenced_static_member_stops_with_a_message(city: Any) -> None:
    settings, bus, end_ms = _setup(city)
    settings = Settings.model_validate(
        settings.model_dump() | {"kafka": settings.kafka.model_dump() | {"instance_id": "a"}})
    engine, consumer, _ = _engine(city, settings, bus, EventClock(end_ms), "engine")

    def fenced(**kwargs: Any) -> Any:
        raise FencedInstanceIdError()
    consumer.inner.poll = fenced
    with pytest.raises(FlowcastUserError, match="instance_id 'a'"):
        engine.step()


def test_partitions_whose_lookup_failed_are_taken_on_the_next_step(city: Any) -> None:
    settings, bus, end_ms = _setup(city)
    engine, consumer, _ = _engine(city, settings, bus, EventClock(end_ms), "engine")
    real = consumer.inner.offsets_for_times
    calls = {"n": 0}

    def second_fails(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KafkaConnectionError("lost during assignment")
        return real(*args, **kwargs)
    consumer.inner.offsets_for_times = second_fails
    assert engine.step().retry_in_s is not None
    assert len(engine.workers) == 1
    engine.step()
    all_partitions = {TopicPartition(t, p) for t in (settings.topics.road_readings,
                                                     settings.topics.spot_readings)
                      for p in range(4)}
    assert set(engine.workers) == all_partitions
