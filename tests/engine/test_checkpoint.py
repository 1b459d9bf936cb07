"""The checkpoint: every output to every sink, and offsets committed only once all of them
acknowledged (at-least-once)."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.structs import TopicPartition

from flowcast.engine.checkpoint import Checkpoint
from flowcast.engine.clock import WallClock
from flowcast.engine.metrics import Metrics
from flowcast.engine.outputs import Output, StepResult
from flowcast.transport.sinks import SinkError, SinkTimeout

TP = TopicPartition("flowcast.road.readings", 0)


class Sink:
    """Records what was sent and what was acknowledged; ``refuse`` makes the flush fail."""

    def __init__(self, log: list[str], name: str, refuse: bool = False) -> None:
        self.log, self.name, self.refuse = log, name, refuse
        self.sent: list[bytes] = []
        self.slow = False  # flush times out, records still queued

    def send(self, topic: str, key: bytes | None, value: bytes, headers: Any = None,
             timestamp_ms: int | None = None) -> None:
        self.sent.append(value)

    def flush(self, timeout: float | None = None) -> None:
        if self.slow:
            raise SinkTimeout("no acknowledgement yet")
        if self.refuse:
            raise SinkError("1 record lost")
        self.log.append(f"flush {self.name}")

    def close(self) -> None:
        pass


class Consumer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def commit(self, offsets: dict[TopicPartition, Any], timeout_ms: int | None = None) -> None:
        self.log.append(f"commit {offsets[TP].offset}")


def _result(*values: bytes) -> StepResult:
    return StepResult([Output("out", b"k", v, None, 1) for v in values], [0.0])


def test_every_sink_gets_every_output_and_the_commit_comes_after_every_flush() -> None:
    log: list[str] = []
    sinks = [Sink(log, "a"), Sink(log, "b")]
    metrics = Metrics()
    checkpoint = Checkpoint(sinks, Consumer(log), metrics, WallClock(), 5.0)
    checkpoint.start(TP, 3)
    checkpoint.collect(_result(b"1", b"2"))
    checkpoint.collect(_result(b"3"))
    assert len(checkpoint) == 3
    assert checkpoint.flush_and_commit({TP: 10}) == 1
    assert [s.sent for s in sinks] == [[b"1", b"2", b"3"]] * 2
    assert log == ["flush a", "flush b", "commit 10"]
    assert checkpoint.ready.is_set() and metrics.counter("flowcast_outputs_total") == 3
    assert checkpoint.flush_and_commit({TP: 10}) == 0  # nothing new: no commit


def test_a_refused_record_stops_the_commit() -> None:
    log: list[str] = []
    checkpoint = Checkpoint([Sink(log, "a"), Sink(log, "b", refuse=True)], Consumer(log),
                            Metrics(), WallClock(), 5.0)
    checkpoint.collect(_result(b"1"))
    with pytest.raises(SinkError):
        checkpoint.flush_and_commit({TP: 10})
    assert log == ["flush a"] and len(checkpoint) == 1 and not checkpoint.ready.is_set()


def test_the_engine_takes_a_list_of_sinks() -> None:
    with pytest.raises(TypeError):
        Checkpoint(Sink([], "a"), Consumer([]), Metrics(), WallClock(), 5.0)  # type: ignore[arg-type]


def test_a_flush_that_timed_out_is_waited_for_again_not_resent() -> None:
    log: list[str] = []
    sink = Sink(log, "a")
    checkpoint = Checkpoint([sink], Consumer(log), Metrics(), WallClock(), 5.0)
    checkpoint.collect(_result(b"1", b"2"))
    sink.slow = True
    with pytest.raises(SinkTimeout):
        checkpoint.flush_and_commit({TP: 10})
    assert checkpoint.unacknowledged and log == []
    checkpoint.collect(_result(b"3"))  # a later step adds outputs
    sink.slow = False
    assert checkpoint.flush_and_commit({TP: 12}) == 1
    assert sink.sent == [b"1", b"2", b"3"]  # each sent once
    assert log == ["flush a", "commit 12"] and not checkpoint.unacknowledged


def test_records_a_sink_lost_are_sent_again() -> None:
    log: list[str] = []
    sink = Sink(log, "a", refuse=True)
    checkpoint = Checkpoint([sink], Consumer(log), Metrics(), WallClock(), 5.0)
    checkpoint.collect(_result(b"1", b"2"))
    with pytest.raises(SinkError):
        checkpoint.flush_and_commit({TP: 10})
    assert checkpoint.unacknowledged
    sink.refuse = False
    assert checkpoint.flush_and_commit({TP: 10}) == 1
    assert sink.sent == [b"1", b"2", b"1", b"2"]  # a repeat is harmless, a gap is not
    assert log == ["flush a", "commit 10"]
