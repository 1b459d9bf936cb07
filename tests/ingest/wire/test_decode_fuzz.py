"""Thousands of mutated frames and JSON records: every one gets an answer, none crashes.

The cases run in a child process (``fuzz_harness.py``) so that a segfault inside Arrow fails
this test instead of killing pytest. Seeded: a failing case number replays on its own with
``python tests/ingest/wire/fuzz_harness.py SEED 1 0 CASE`` (or ``SEED 0 1 CASE`` for JSON).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).with_name("fuzz_harness.py")
ROOT = Path(__file__).resolve().parents[3]
SEED = 20251124
FRAME_CASES = 6_000
JSON_CASES = 2_000


def test_mutated_inputs_are_decoded_or_refused_never_crash() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    run = subprocess.run([sys.executable, str(HARNESS), str(SEED), str(FRAME_CASES),
                          str(JSON_CASES)], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=600)
    print(run.stdout)
    assert run.returncode == 0, (f"child exited {run.returncode} (negative: killed by signal)\n"
                                 f"{run.stdout[-2000:]}\n{run.stderr[-6000:]}")
    ran = re.search(r"(\d+) frame cases, (\d+) JSON cases", run.stdout)
    assert ran is not None and (int(ran[1]), int(ran[2])) == (FRAME_CASES, JSON_CASES)
    outcomes = dict(re.findall(r"^  (\S+ \S+): (\d+)$", run.stdout, re.MULTILINE))
    counts = {k: int(v) for k, v in outcomes.items()}
    assert sum(counts.values()) == FRAME_CASES + JSON_CASES
    # the mutations reach every outcome: some frames survive whole, some lose rows, most die
    assert counts.get("frame decoded", 0) and counts.get("frame partly", 0)
    assert counts.get("frame refused:undecodable", 0) > FRAME_CASES // 2
    assert counts.get("json decoded", 0) and counts.get("json refused:undecodable", 0)
