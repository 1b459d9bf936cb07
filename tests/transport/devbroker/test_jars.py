"""The local broker's jar cache: where it lives, when it is complete, and a missing Maven."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcast.errors import FlowcastUserError
from flowcast.transport.devbroker.jars import COMPLETE_MARKER, cache_dir, ensure_jars, jars_ready


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWCAST_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir("9.9.9") == tmp_path / "c" / "kafka-9.9.9"
    monkeypatch.delenv("FLOWCAST_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("9.9.9") == tmp_path / "xdg" / "flowcast" / "kafka-9.9.9"


def test_jar_cache_is_complete_only_with_every_listed_jar(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWCAST_CACHE_DIR", str(tmp_path))
    root = cache_dir("9.9.9")
    (root / "libs").mkdir(parents=True)
    assert not jars_ready("9.9.9")
    (root / "libs" / "kafka_2.13-9.9.9.jar").write_bytes(b"PK")
    (root / COMPLETE_MARKER).write_text("kafka_2.13-9.9.9.jar\nother.jar\n")
    assert not jars_ready("9.9.9")  # other.jar is missing: an interrupted copy
    (root / "libs" / "other.jar").write_bytes(b"PK")
    assert jars_ready("9.9.9")
    assert ensure_jars("9.9.9") == root / "libs"  # no Maven run


def test_missing_maven_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWCAST_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FlowcastUserError, match="install Maven"):
        ensure_jars("9.9.9")
