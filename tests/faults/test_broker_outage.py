"""The broker killed (SIGKILL) mid-stream and restarted 15 s later: the engine process lives
on with the same PID, answers 503 on /readyz while cut off, resumes by itself, and publishes
every output with the values of a clean run. Runs on a broker of its own, so that killing it
disturbs no other test."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_harness import quiet_simulator
from kafka_engine_harness import (
    assert_repeats_identical,
    assert_same_values,
    clean_conditions,
    complete,
    expected_issues,
    http_status,
    make_world,
    metric,
    read_all,
    start_time,
    stream,
    wait_for,
)

from flowcast.config import KafkaSettings, Settings, TopicSettings
from flowcast.errors import FlowcastUserError
from flowcast.transport.devbroker.logs import LocalKafkaError
from flowcast.transport.devbroker.ports import free_port
from flowcast.transport.devbroker.process import LocalKafka
from flowcast.transport.kafka_client import admin_client

pytestmark = [pytest.mark.fault, pytest.mark.kafka, pytest.mark.slow]

DOWN_S = 15.0


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A broker for this module alone, on a fixed port and data dir, so it can be killed and
    started again as the same broker."""
    broker = LocalKafka(port=free_port(), data_dir=tmp_path_factory.mktemp("own-kafka"))
    try:
        broker.start()
    except (LocalKafkaError, FlowcastUserError) as err:
        pytest.fail(f"the fault suite's own broker did not start:\n{err}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


def test_the_engine_outlives_a_broker_restart(own_broker: LocalKafka, tmp_path: Path) -> None:
    settings = Settings(kafka=KafkaSettings(bootstrap=own_broker.bootstrap, group_id="outage"),
                        topics=TopicSettings())
    admin = admin_client(settings.kafka)
    try:
        world = make_world(tmp_path, settings, admin)
    finally:
        admin.close()
    city, procs = world.city, world.procs
    try:
        start = start_time()
        sim = quiet_simulator(city, start)
        stream(settings, sim, start + dt.timedelta(hours=1), speedup=0)
        engine = procs.start("engine", "--port", "0")
        wait_for(lambda: http_status(procs.url("engine"), "/readyz") == 200, 120, procs,
                 "the engine to be ready")
        url = procs.url("engine")
        wait_for(lambda: complete(settings, city, expected_issues(start, hours=1)), 120, procs,
                 "the first hour's outputs")

        own_broker.kill()
        killed = time.monotonic()
        noticed_s = wait_for(lambda: http_status(url, "/readyz") == 503, 60, procs,
                             "/readyz to answer 503 with the broker gone")
        assert metric(url, "flowcast_broker_connected") == 0
        time.sleep(max(0.0, DOWN_S - (time.monotonic() - killed)))
        own_broker.start()
        recovered_s = wait_for(lambda: http_status(url, "/readyz") == 200, 120, procs,
                               "/readyz to answer 200 with the broker back")
        assert metric(url, "flowcast_broker_connected") == 1

        stream(settings, sim, start + dt.timedelta(hours=2), speedup=0)
        outputs_s = wait_for(lambda: complete(settings, city, expected_issues(start)), 180,
                             procs, "every output after the broker came back")
        assert engine.poll() is None, procs.logs()  # the same process, never restarted
        log = procs.log("engine")
        assert "lost the broker" in log and "broker back after" in log, log[-3000:]

        compared = assert_same_values(settings, clean_conditions(settings, city),
                                      expected_issues(start))
        assert_repeats_identical(read_all(settings, settings.topics.road_conditions))
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(30) == 0, procs.logs()
        print(f"broker down {DOWN_S:.0f} s: not ready {noticed_s:.1f} s after the kill; ready "
              f"{recovered_s:.1f} s after the restart; hour 2 published {outputs_s:.1f} s after "
              f"it was sent; {compared} values compared with a clean run, 0 differ; same PID "
              f"{engine.pid}")
    finally:
        procs.stop_all()
