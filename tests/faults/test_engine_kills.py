"""The engine process killed with SIGKILL five times mid-stream, and paused with SIGSTOP for a
minute: every output is published, and every value equals a clean run's."""

from __future__ import annotations

import signal
import time

import pytest
from kafka_engine_harness import (
    World,
    assert_repeats_identical,
    assert_same_values,
    clean_conditions,
    complete,
    expected_issues,
    kill_9,
    metric,
    read_all,
    start_time,
    stream_in_background,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.fault, pytest.mark.slow]

ALL_PARTITIONS = 8  # 4 road + 4 spot reading partitions
SPEEDUP = 200  # two hours of readings in 36 s


def _has_outputs(world: World) -> bool:
    return bool(read_all(world.settings, world.settings.topics.road_conditions))


def test_kill_9_five_times_loses_nothing_and_changes_no_value(world: World) -> None:
    settings, city, procs = world.settings, world.city, world.procs
    # a static member: each restart takes its partitions straight back, without a rebalance
    config = write_config(procs.tmp / "static.toml", settings, instance_id="engine-1")
    start = start_time()
    producer = stream_in_background(settings, city, start, speedup=SPEEDUP)
    proc = procs.start("engine", "--port", "0", config=config)
    wait_for(lambda: _has_outputs(world), 120, procs, "the first outputs")
    reclaimed = []
    for _ in range(5):
        time.sleep(3)
        kill_9(proc)
        proc = procs.start("engine", "--port", "0", config=config)
        reclaimed.append(wait_for(
            lambda p=proc: p.poll() is None and metric(
                procs.url("engine"), "flowcast_assigned_partitions") == ALL_PARTITIONS,
            60, procs, "the restarted process to hold every partition"))
    producer.join(180)
    wait_for(lambda: complete(settings, city, expected_issues(start)), 180, procs,
             "every output after five kills")
    compared = assert_same_values(settings, clean_conditions(settings, city),
                                  expected_issues(start))
    assert_repeats_identical(read_all(settings, settings.topics.road_conditions))
    print(f"kill -9 x5: partitions held again {', '.join(f'{s:.1f}' for s in reclaimed)} s "
          f"after each restart (process start included); {compared} values compared with a "
          "clean run, 0 differ")


def test_a_run_paused_for_a_minute_gives_the_values_of_a_clean_run(world: World) -> None:
    """SIGSTOP for 60 s while the stream goes on: the group drops the member, the backlog
    piles up; on SIGCONT the process rejoins and reads it without closing any bucket early."""
    settings, city, procs = world.settings, world.city, world.procs
    start = start_time()
    producer = stream_in_background(settings, city, start, speedup=SPEEDUP)
    proc = procs.start("engine")
    wait_for(lambda: _has_outputs(world), 120, procs, "the first outputs")
    proc.send_signal(signal.SIGSTOP)
    time.sleep(60)
    proc.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    producer.join(180)
    wait_for(lambda: complete(settings, city, expected_issues(start)), 180, procs,
             "every output after the pause")
    caught_up_s = time.monotonic() - resumed
    assert proc.poll() is None, procs.logs()
    compared = assert_same_values(settings, clean_conditions(settings, city),
                                  expected_issues(start))
    assert_repeats_identical(read_all(settings, settings.topics.road_conditions))
    print(f"SIGSTOP 60 s: every output {caught_up_s:.1f} s after SIGCONT; {compared} values "
          "compared with a clean run, 0 differ")
