"""``flowcast demo`` end to end, as a user runs it: a subprocess, the pages on a real port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowcast.formats.city_read import load_city

FLOWCAST = [sys.executable, "-m", "flowcast"]


def run_demo(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    return subprocess.run([*FLOWCAST, "demo", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_demo_trains_streams_and_raises_a_saturation_alert(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    done = run_demo("--minutes", "120", "--speedup", "0", "--port", "0", "--sensors", "150",
                    "--history-days", "2.5", "--workdir", str(work), "--summary",
                    str(tmp_path / "summary.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    city = load_city(work / "city.geojson")
    # every segment published conditions, from the quick LightGBM model trained on the history
    assert summary["segments"] == len(city.segment_ids)
    assert summary["conditions"] >= 10 * len(city.segment_ids)  # 2 h of 5-min buckets
    assert any(m.startswith("lightgbm:") for m in summary["models"]), summary["models"]
    assert summary["spot_forecasts"] >= city.n_spots * 4
    raised = [a for a in summary["alerts"] if a["msgType"] == "Alert"]
    assert raised, summary["alerts"]
    assert {a["spot"] for a in raised} <= set(city.spot_ids.tolist())
    out = done.stdout
    assert "ALERT RAISED" in out
    assert f"{summary['url']}/screen" in out and f"{summary['url']}/bureau" in out
    assert (work / "model" / "model.json").exists()


def test_demo_reuses_its_work_directory(tmp_path: Path) -> None:
    args = ("--minutes", "20", "--speedup", "0", "--port", "0", "--sensors", "60",
            "--spots", "2", "--history-days", "2", "--no-train", "--workdir",
            str(tmp_path / "w"))
    first = run_demo(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_demo(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "reusing the city, history and model" in second.stdout


@pytest.mark.parametrize(("flags", "message"), [
    (("--minutes", "-5"), "--minutes must be positive"),
    (("--start", "2026-10-02T08:00"), "--start needs a UTC offset"),
    (("--start", "tomorrow"), "--start must be an ISO 8601 time"),
    (("--speedup", "-1"), "--speedup must be 0"),
    (("--port", "70000"), "--port must be 0..65535"),
    (("--sensors", "3"), "--sensors must be at least 10"),
])
def test_demo_bad_flags_are_one_line_errors(tmp_path: Path, flags: tuple[str, ...],
                                            message: str) -> None:
    done = run_demo(*flags, "--workdir", str(tmp_path / "w"), cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_demo("--port", str(port), "--minutes", "5", "--no-train", "--workdir",
                        str(tmp_path / "w"), cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr


def test_demo_through_a_real_broker(tmp_path: Path, kafka_bootstrap: str) -> None:
    done = run_demo("--kafka", kafka_bootstrap, "--minutes", "75", "--speedup", "0", "--port",
                    "0", "--sensors", "80", "--spots", "3", "--history-days", "2",
                    "--no-train", "--workdir", str(tmp_path / "w"), "--summary",
                    str(tmp_path / "summary.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    city = load_city(tmp_path / "w" / "city.geojson")
    assert summary["segments"] == len(city.segment_ids)
    assert [a for a in summary["alerts"] if a["msgType"] == "Alert"], summary["alerts"]
    assert "Kafka at" in done.stdout
