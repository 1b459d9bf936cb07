"""Helpers shared by the command-line tests: a small speed dataset on disk, and the check that
a failed command said exactly one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowcast.formats.dataset import FlowDataset, make_series_dataset, save_dataset

TZ = "Asia/Shanghai"


def write_speed_dataset(path: Path, days: int = 6, interval_min: int = 15, seed: int = 0,
                        title: str | None = None) -> Path:
    """A 4-sensor dataset of ``days`` days of speeds (km/h) with a daily shape (some zeros),
    saved at ``path``; ``title`` goes into its attributes."""
    rng = np.random.default_rng(seed)
    per_day = 24 * 60 // interval_min
    t = days * per_day
    speed = (45 + 12 * np.sin(np.arange(t) * 2 * np.pi / per_day)[None, :]
             + rng.normal(0, 2, (4, t))).astype(np.float32)
    speed[rng.random(speed.shape) < 0.03] = 0
    roads = make_series_dataset(
        "sensor", ["S1", "S2", "S3", "S4"],
        pd.date_range("2025-06-02", periods=t, freq=f"{interval_min}min", tz=TZ),
        {"speed": speed}, {"speed": "km/h"}, interval_s=interval_min * 60, timezone=TZ,
        source="flowcast import speeds.csv")
    if title is not None:
        roads.attrs["title"] = title
    return save_dataset(FlowDataset(roads=roads), path)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr of a failed command: exactly one line, starting with 'error:', no traceback."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err + captured.out
    return lines[0]
