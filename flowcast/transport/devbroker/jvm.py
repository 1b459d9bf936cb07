"""The Java side of the local broker: finding a Java 17+, its heap and flags, and tying the
JVM's life to the Python process that starts it."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from flowcast.errors import FlowcastUserError

MIN_JAVA = 17
# C1 only: about 40% faster start on a small busy machine (C2 compiler threads compete for the
# cores); a Python client saturates long before the broker's JIT level matters. Pass
# extra_jvm_options=["-XX:TieredStopAtLevel=4"] for full optimisation (the last flag wins).
DEFAULT_JVM_OPTIONS = ("-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")


def find_java() -> str:
    """Path of a Java 17+ ``java`` executable (``$JAVA_HOME/bin/java`` first, then ``PATH``).

    Raises :class:`FlowcastUserError` saying what to install when none is usable.
    """
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise FlowcastUserError(
            f"the local Kafka broker needs Java {MIN_JAVA}+ but no `java` is on PATH; install "
            f"OpenJDK {MIN_JAVA} (e.g. apt-get install openjdk-{MIN_JAVA}-jre-headless) or set "
            "JAVA_HOME"
        )
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise FlowcastUserError(
            f"the local Kafka broker needs Java {MIN_JAVA}+ but {java} is Java {major}; install "
            f"OpenJDK {MIN_JAVA} or newer and put it first on PATH (or set JAVA_HOME)"
        )
    return java


def java_major_version(java: str) -> int:
    """The major version (8, 11, 17, ...) that ``java -version`` reports; 0 if unreadable."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return parse_java_version(done.stderr + done.stdout)


def parse_java_version(text: str) -> int:
    """The major version in ``java -version`` output (``"1.8.0_392"`` -> 8, ``"17.0.15"`` -> 17)."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not found:
        return 0
    first = int(found.group(1))
    return int(found.group(2) or 0) if first == 1 else first


def min_heap(heap: str) -> str:
    """The JVM ``-Xms`` used with ``-Xmx`` ``heap``: a quarter of it, at least 64m."""
    match = re.fullmatch(r"(\d+)([kmgKMG]?)", heap)
    if not match:
        raise FlowcastUserError(f"heap size {heap!r} is not like 512m or 1g")
    scale = {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}[match.group(2).lower()]
    return f"{max(64, int(int(match.group(1)) * scale) // 4)}m"


def jvm_options(heap: str, extra: list[str]) -> list[str]:
    """The broker JVM's flags before the classpath: heap (``-Xms``/``-Xmx``), GC, ``extra``."""
    return [f"-Xms{min_heap(heap)}", f"-Xmx{heap}", *DEFAULT_JVM_OPTIONS, *extra]


def die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the broker when the Python process that started
    it dies (a killed test run must not leave a JVM behind); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # Resolved here, in the parent: loading a library in a forked child can deadlock.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return hook
