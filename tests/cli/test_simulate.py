"""``flowcast simulate --kafka``: a stream is never stamped ahead of the wall clock, says what it
sends before it starts, and a bad bootstrap is one line at once."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest

from flowcast.city import City
from flowcast.cli import main
from flowcast.cli.simulate import CATCH_UP_DAYS, describe_stream, kafka_default_start
from flowcast.config import Settings
from flowcast.ingest import stream
from flowcast.ingest.simulator import Simulator, generate_city

GRID_S = 300
NOW_S = dt.datetime(2026, 12, 3, 19, 42, 17, tzinfo=dt.UTC).timestamp()
DAY_S = 86_400


@pytest.mark.parametrize("days", [1.0, 0.3, 7.0])
def test_unpaced_default_start_makes_the_stream_end_now(days: float) -> None:
    start = kafka_default_start(days, 0.0, NOW_S, GRID_S)
    assert start % GRID_S == 0
    assert NOW_S - GRID_S < start + days * DAY_S <= NOW_S


@pytest.mark.parametrize("speedup", [2.0, 60.0, 1440.0])
def test_paced_default_start_reaches_now_when_it_ends(speedup: float) -> None:
    start = kafka_default_start(1.0, speedup, NOW_S, GRID_S)
    ends_on_the_wall_clock = NOW_S + DAY_S / speedup  # a day of event time at speedup x
    assert start % GRID_S == 0
    assert ends_on_the_wall_clock - GRID_S < start + DAY_S <= ends_on_the_wall_clock


@pytest.mark.parametrize(("days", "speedup", "back_s"), [
    (None, 1.0, 0), (None, 0.5, 0), (1.0, 1.0, 0), (2.0, 0.25, 0),
    (None, 60.0, CATCH_UP_DAYS * DAY_S), (None, 0.0, CATCH_UP_DAYS * DAY_S)])
def test_default_start_otherwise(days: float | None, speedup: float, back_s: float) -> None:
    assert kafka_default_start(days, speedup, NOW_S, GRID_S) == (NOW_S - back_s) // 300 * 300


def fake_streamer(calls: dict[str, object]) -> Callable[..., stream.StreamStats]:
    """A stand-in for stream.stream_to_kafka that remembers the last reading time it would
    send and the wall clock when it was called."""

    def fake(sim: Simulator, bootstrap: str, until: dt.datetime | None, speedup: float,
             fmt: str, settings: Settings) -> stream.StreamStats:
        last = max(int(road.ts_ms.max()) for _, road, _ in sim.batches(until))
        calls.update(start=sim.now, until=until, last_ms=last, called_s=time.time())
        return stream.StreamStats()

    return fake


def test_unpaced_stream_without_start_ends_no_later_than_now(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: dict[str, object] = {}
    monkeypatch.setattr(stream, "stream_to_kafka", fake_streamer(calls))
    assert main(["simulate", "--sensors", "5", "--spots", "1", "--days", "0.05",
                 "--kafka", "127.0.0.1:9092", "--speedup", "0"]) == 0
    called_s = calls["called_s"]
    assert isinstance(called_s, float)
    assert called_s * 1000 - 300_000 <= calls["last_ms"] <= called_s * 1000  # type: ignore[operator]
    out = capsys.readouterr().out
    assert "streaming 5 sensors, 1 spots from " in out and "into 127.0.0.1:9092 (arrow)" in out


def test_a_start_in_the_future_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT00:00+00:00")
    assert main(["simulate", "--sensors", "5", "--kafka", "127.0.0.1:9092",
                 "--start", tomorrow]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --start {tomorrow} is after now")
    assert "earlier --start or leave it out" in lines[0]


def test_a_malformed_bootstrap_is_one_line_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    assert main(["simulate", "--sensors", "5", "--kafka", "nonsense"]) == 2
    assert time.monotonic() - began < 1.0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["error: Kafka bootstrap 'nonsense' is not "
                                         "HOST:PORT[,HOST:PORT...]; fix --kafka or "
                                         "FLOWCAST_KAFKA_BOOTSTRAP"]


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(12, 2, seed=1)


def test_describe_a_bounded_stream(city: City) -> None:
    start = dt.datetime(2026, 12, 2, 11, 45, tzinfo=dt.UTC)
    line = describe_stream(city, "127.0.0.1:9092", start,
                           start + dt.timedelta(days=1), 60.0, "json",
                           now_s=start.timestamp() + DAY_S * (1 - 1 / 60) + 60)
    assert line == ("streaming 12 sensors, 2 spots from 2026-12-02 19:45 to 2026-12-03 19:45 "
                    "Asia/Shanghai into 127.0.0.1:9092 (json), at 60x real time; Ctrl-C stops it")


def test_describe_an_open_ended_stream_that_catches_up(city: City) -> None:
    now = dt.datetime(2026, 12, 3, 11, 45, tzinfo=dt.UTC)
    start = now - dt.timedelta(days=1)
    line = describe_stream(city, "b:9092", start, None, 60.0, "arrow",
                           now_s=now.timestamp())
    # 24 h behind at 60x: it gains 59 s a second, so it is level after 24 h / 59
    assert line == ("streaming 12 sensors, 2 spots from 2026-12-02 19:45 Asia/Shanghai until "
                    "stopped into b:9092 (arrow), at 60x real time, then in real time from "
                    "about 2026-12-03 20:09 (it never runs ahead); Ctrl-C stops it")


def test_describe_real_time(city: City) -> None:
    now = dt.datetime(2026, 12, 3, 11, 45, tzinfo=dt.UTC)
    line = describe_stream(city, "b:9092", now, None, 1.0, "arrow",
                           now_s=now.timestamp())
    assert line.endswith("until stopped into b:9092 (arrow), in real time; Ctrl-C stops it")
