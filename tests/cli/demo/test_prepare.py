"""What the demo prepares: the quick model's threads follow the cores other work leaves free."""

from __future__ import annotations

import os

import pytest

from flowcast.cli.demo import prepare


@pytest.mark.parametrize(("load", "threads"), [(0.0, 4), (1.4, 3), (3.9, 1), (12.0, 1)])
def test_the_quick_model_uses_the_cores_left_free(monkeypatch: pytest.MonkeyPatch,
                                                  load: float, threads: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert prepare.free_cores() == threads
