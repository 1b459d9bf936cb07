"""``flowcast broker`` stops cleanly on Ctrl-C (SIGINT), also when it was started with SIGINT
ignored, as a script's background job is (Python then raises no KeyboardInterrupt)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flowcast.transport.devbroker.ports import accepts_connections


def _as_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.kafka
@pytest.mark.slow
def test_sigint_stops_the_broker_and_removes_its_data() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowcast", "broker", "--heap", "256m"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_as_a_background_job, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "bootstrap: HOST:PORT" once the broker answers
        if not line.startswith("bootstrap: "):
            proc.kill()
            pytest.fail(f"the broker did not start: {proc.communicate(timeout=30)[1][-3000:]}")
        bootstrap = line.split()[1]
        assert accepts_connections(bootstrap)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert lines[-2:] == ["stopping the Kafka broker...", "the Kafka broker stopped"], err
    data_dir = re.search(r"data in (\S+), log", err)
    assert data_dir is not None and not Path(data_dir[1]).exists()  # the temporary data went
    assert not accepts_connections(bootstrap)
