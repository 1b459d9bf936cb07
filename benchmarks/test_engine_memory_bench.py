"""Engine memory: RSS of a process holding every partition's state for a city, with the
default history span (8 days of 5-minute buckets) fully touched.

Run: ``.venv/bin/pytest benchmarks/test_engine_memory_bench.py --benchmark-only -s``. Each size
runs in a fresh subprocess so one measurement does not inherit another's heap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

SCRIPT = r"""
import json, os, sys
import psutil
from flowcast.config import Settings
from flowcast.engine.loop import Engine
from flowcast.transport.bus.broker import Bus
from flowcast.transport.sinks import BusSink
from flowcast.ingest.simulator import generate_city
import flowcast.transport.kafka_client, lightgbm, pyarrow  # everything `flowcast run` loads
n = int(sys.argv[1])
city = generate_city(n, 8, seed=1)
proc = psutil.Process(os.getpid())
base = proc.memory_info().rss
settings = Settings()
bus = Bus(default_partitions=settings.topics.partitions)
for t in settings.topics.all_names():
    bus.create_topic(t)
from kafka.structs import TopicPartition
consumer = bus.consumer(group_id="m")
tps = [TopicPartition(t, p) for t in (settings.topics.road_readings,
       settings.topics.spot_readings) for p in range(settings.topics.partitions)]
consumer.assign(tps)
engine = Engine(city, settings, consumer, [BusSink(bus)])
engine.assign(tps)
state_bytes = 0
for w in engine.workers.values():
    if w.state is not None and hasattr(w.state, "history") and hasattr(w.state.history, "arrays"):
        for a in w.state.history.arrays:
            a.fill(0)  # touch every page, as a full history span would
        state_bytes += w.state.history.nbytes
print(json.dumps({"sensors": n, "rss_mb": proc.memory_info().rss / 2**20,
                  "before_state_mb": base / 2**20, "history_mb": state_bytes / 2**20}))
"""


def _measure(n: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n)], capture_output=True,
                         text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("sensors", [10_000, 100_000])
def test_engine_rss_with_full_history(benchmark: Any, sensors: int) -> None:
    figures = benchmark.pedantic(_measure, args=(sensors,), rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    print(f"\n{sensors:,} sensors: RSS {figures['rss_mb']:,.0f} MB (history "
          f"{figures['history_mb']:,.0f} MB; process before the state "
          f"{figures['before_state_mb']:,.0f} MB incl. the city)")
    assert figures["history_mb"] > 0
