"""``flowcast simulate``: writes a dataset and a city, hands --kafka to the streamer, and turns
every mistake into one line and exit status 2."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from flowcast.cli import main
from flowcast.config import Settings
from flowcast.formats.city_read import load_city
from flowcast.formats.dataset import load_dataset
from flowcast.ingest import stream
from flowcast.ingest.simulator import Simulator


def test_generates_city_and_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    city_file, out = tmp_path / "city.geojson", tmp_path / "hist"
    code = main(["simulate", "--sensors", "40", "--spots", "2", "--city-out", str(city_file),
                 "--start", "2026-10-01", "--days", "0.25", "--seed", "3", "--out", str(out)])
    assert code == 0
    city = load_city(city_file)
    assert city.n_sensors == 40 and city.n_spots == 2
    ds = load_dataset(out)
    assert ds.roads is not None and ds.spots is not None
    assert ds.roads.flow.shape == (40, 72)
    assert str(ds.roads.time.values[0]).startswith("2026-09-30T16:00")  # local midnight in UTC
    text = capsys.readouterr().out
    assert "40 sensors" in text and "2 spots" in text and str(out) in text and "MB" in text
    assert "2026-10-01 00:00 to 2026-10-01 06:00" in text


def test_simulates_a_city_file_and_refuses_to_clobber(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    city_file = tmp_path / "city.geojson"
    assert main(["simulate", "--sensors", "20", "--city-out", str(city_file), "--days", "0.1",
                 "--out", str(tmp_path / "a")]) == 0
    args = ["simulate", "--city", str(city_file), "--start", "2026-10-01T08:00+08:00",
            "--days", "0.05", "--out", str(tmp_path / "b")]
    assert main(args) == 0
    first = load_dataset(tmp_path / "b").roads
    assert main(args) == 2  # exists: needs --force
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    again = load_dataset(tmp_path / "b").roads
    assert first is not None and again is not None
    assert np.array_equal(first.flow.values, again.flow.values, equal_nan=True)


@pytest.mark.parametrize(("args", "message"), [
    ([], "--out DATASET"),
    (["--out", "{tmp}/x", "--kafka", "localhost:9092"], "cannot be combined"),
    (["--city", "{tmp}/c.geojson", "--sensors", "10", "--out", "{tmp}/x"], "one or the other"),
    (["--city", "{tmp}/missing.geojson", "--out", "{tmp}/x"], "does not exist"),
    (["--sensors", "0", "--out", "{tmp}/x"], "--sensors must be at least 1"),
    (["--sensors", "-3", "--out", "{tmp}/x"], "--sensors must be at least 1"),
    (["--sensors", "ten", "--out", "{tmp}/x"], "--sensors must be a whole number"),
    (["--spots", "0", "--out", "{tmp}/x"], "--spots must be at least 1"),
    (["--days", "0", "--out", "{tmp}/x"], "--days"),
    (["--days", "lots", "--out", "{tmp}/x"], "--days"),
    (["--seed", "-1", "--out", "{tmp}/x"], "--seed"),
    (["--start", "yesterday", "--sensors", "5", "--out", "{tmp}/x"], "ISO 8601"),
    (["--start", "2026-10-01T08:07", "--sensors", "5", "--out", "{tmp}/x"], "boundary"),
    (["--speedup", "2", "--out", "{tmp}/x"], "--kafka only"),
    (["--format", "json", "--out", "{tmp}/x"], "--kafka only"),
    (["--kafka", "localhost:9092", "--speedup", "-1"], "--speedup"),
    (["--kafka", "localhost:9092", "--speedup", "fast"], "--speedup"),
    (["--kafka", "localhost:9092", "--format", "xml"], "--format"),
    (["--kafka", "localhost:9092", "--force"], "--force"),
    (["--kafka", " "], "bootstrap"),
    (["--out", "{tmp}/notadataset"], "already exists"),
    (["--out", "{tmp}/notadataset", "--force"], "not a flowcast dataset"),
])
def test_user_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          args: list[str], message: str) -> None:
    (tmp_path / "c.geojson").write_text("{}")
    (tmp_path / "notadataset").mkdir()
    (tmp_path / "notadataset" / "precious.txt").write_text("keep me")
    code = main(["simulate", *(a.format(tmp=tmp_path) for a in args)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert message in lines[0]
    assert "Traceback" not in captured.err
    assert (tmp_path / "notadataset" / "precious.txt").exists()
    assert not (tmp_path / "x").exists()


def test_nothing_is_written_when_the_start_is_refused(tmp_path: Path) -> None:
    city_file = tmp_path / "city.geojson"
    code = main(["simulate", "--sensors", "5", "--city-out", str(city_file),
                 "--start", "2026-10-01T08:05", "--out", str(tmp_path / "x")])
    assert code == 2
    assert not city_file.exists() and not (tmp_path / "x").exists()


def test_kafka_hands_the_simulator_to_the_streamer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    calls: dict[str, object] = {}

    def fake(sim: Simulator, bootstrap: str, until: dt.datetime | None, speedup: float,
             fmt: str, settings: Settings) -> stream.StreamStats:
        calls.update(bootstrap=bootstrap, until=until, speedup=speedup, fmt=fmt,
                     settings=settings, start=sim.now)
        readings = sum(len(road) for _, road, _ in sim.batches(until))
        return stream.StreamStats(intervals=1, readings=readings, records=1, bytes=10,
                                  elapsed_s=1.0)

    monkeypatch.setattr(stream, "stream_to_kafka", fake)
    code = main(["simulate", "--sensors", "15", "--spots", "1", "--start", "2026-10-02T09:00",
                 "--days", "0.01", "--kafka", "127.0.0.1:9999", "--speedup", "0",
                 "--format", "json"])
    assert code == 0
    start = dt.datetime(2026, 10, 2, 1, tzinfo=dt.UTC)
    assert calls["start"] == start
    assert calls["until"] == start + dt.timedelta(days=0.01)
    assert (calls["bootstrap"], calls["speedup"], calls["fmt"]) == ("127.0.0.1:9999", 0.0, "json")
    assert isinstance(calls["settings"], Settings)
    assert calls["settings"].kafka.bootstrap == "127.0.0.1:9999"  # type: ignore[attr-defined]
    assert "127.0.0.1:9999" in capsys.readouterr().out


def test_kafka_defaults_run_in_real_time_from_now(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, object] = {}

    def fake(sim: Simulator, bootstrap: str, until: dt.datetime | None, speedup: float,
             fmt: str, settings: Settings) -> stream.StreamStats:
        calls.update(until=until, speedup=speedup, fmt=fmt, start=sim.now)
        return stream.StreamStats()

    monkeypatch.setattr(stream, "stream_to_kafka", fake)
    assert main(["simulate", "--sensors", "5", "--kafka", "127.0.0.1:9999"]) == 0
    assert calls["until"] is None and calls["speedup"] == 1.0 and calls["fmt"] == "arrow"
    lag = dt.datetime.now(dt.UTC) - calls["start"]  # type: ignore[operator]
    assert dt.timedelta(0) <= lag < dt.timedelta(minutes=6)
