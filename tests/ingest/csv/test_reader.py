"""Reading a CSV body: the progress bar over a big file reads exactly what a plain read does."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from tqdm import tqdm

from flowcast.ingest.csv import reader
from flowcast.ingest.csv.layouts import is_header


def test_a_file_read_with_a_progress_bar_reads_the_same(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    path = tmp_path / "speeds.csv"
    body = "".join(f"{i},{i * 0.5},{'' if i % 7 == 0 else i % 13}\n" for i in range(5000))
    path.write_text("t,a,b\n" + body, encoding="utf-8")
    head = reader.sniff_csv(path, None, is_header)
    plain = reader.read_table(head, floats=[1, 2], strings=[0])
    bars: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        # a bar that counts even off a terminal, drawn into a buffer nobody reads
        bar = tqdm(*args, file=io.StringIO(), **kwargs)
        bars.append(bar)
        return bar

    monkeypatch.setattr(reader, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(reader, "progress_bar", spy)
    shown = reader.read_table(head, floats=[1, 2], strings=[0], progress=True)
    assert shown.equals(plain)
    assert len(bars) == 1 and bars[0].total == path.stat().st_size
    assert bars[0].n == path.stat().st_size  # every byte went through the bar
