"""The local broker's Java: versions, heap sizes, and a missing Java as a user error."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcast.errors import FlowcastUserError
from flowcast.transport.devbroker.jvm import min_heap, parse_java_version
from flowcast.transport.devbroker.process import LocalKafka


@pytest.mark.parametrize(("output", "major"), [
    ('openjdk version "17.0.15" 2025-04-15', 17),
    ('java version "1.8.0_392"', 8),
    ('openjdk version "21" 2023-09-19', 21),
    ("no version here", 0),
])
def test_java_version_parsing(output: str, major: int) -> None:
    assert parse_java_version(output) == major


def test_heap_sizes() -> None:
    assert min_heap("512m") == "128m"
    assert min_heap("2g") == "512m"
    assert min_heap("100m") == "64m"
    with pytest.raises(FlowcastUserError, match="heap size 'lots' is not like 512m"):
        LocalKafka(heap="lots")  # refused before any download or JVM start


def test_missing_java_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FlowcastUserError, match="Java 17"):
        LocalKafka().start()
