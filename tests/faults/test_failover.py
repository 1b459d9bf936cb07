"""Two engine processes in one group; one is killed with SIGKILL mid-stream. The survivor
takes its partitions within the session timeout (10 s) and the outputs stay complete, with the
values of a clean run."""

from __future__ import annotations

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
)

pytestmark = [pytest.mark.fault, pytest.mark.slow]

ALL_PARTITIONS = 8
TAKEOVER_LIMIT_S = 15.0


def test_a_survivor_takes_over_a_dead_ones_partitions_within_15_s(world: World) -> None:
    settings, city, procs = world.settings, world.city, world.procs
    start = start_time()
    producer = stream_in_background(settings, city, start, speedup=200)
    doomed = procs.start("engine-a", "--port", "0")
    procs.start("engine-b", "--port", "0")

    def split() -> bool:
        held = [metric(procs.url(n), "flowcast_assigned_partitions") for n in ("engine-a",
                                                                                 "engine-b")]
        return all(h for h in held) and sum(held) == ALL_PARTITIONS  # type: ignore[arg-type]

    wait_for(split, 120, procs, "the two processes to split the partitions")
    wait_for(lambda: read_all(settings, settings.topics.road_conditions), 120, procs,
             "the first outputs")
    kill_9(doomed)
    killed = time.monotonic()
    takeover_s = wait_for(
        lambda: metric(procs.url("engine-b"), "flowcast_assigned_partitions") == ALL_PARTITIONS,
        60, procs, "the survivor to hold every partition")
    assert takeover_s <= TAKEOVER_LIMIT_S, procs.logs()
    producer.join(180)
    wait_for(lambda: complete(settings, city, expected_issues(start)), 180, procs,
             "every output from the survivor")
    compared = assert_same_values(settings, clean_conditions(settings, city),
                                  expected_issues(start))
    assert_repeats_identical(read_all(settings, settings.topics.road_conditions))
    print(f"failover: the survivor held every partition {takeover_s:.1f} s after the kill "
          f"(session timeout 10 s); every output {time.monotonic() - killed:.1f} s after it; "
          f"{compared} values compared with a clean run, 0 differ")
