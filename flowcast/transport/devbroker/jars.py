"""The broker's jars: resolved once with Maven from ``flowcast/data/kafka/pom.xml`` into a cache
outside the repository (``$FLOWCAST_CACHE_DIR/kafka-<version>/libs``, default
``~/.cache/flowcast/kafka-<version>/libs``) and reused afterwards. Maven is needed only on the
first run for a given Kafka version.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from flowcast.errors import FlowcastUserError
from flowcast.transport.devbroker.logs import LocalKafkaError, tail_lines

KAFKA_VERSION = "4.1.1"
POM_FILE = Path(__file__).resolve().parents[2] / "data" / "kafka" / "pom.xml"
CACHE_ENV = "FLOWCAST_CACHE_DIR"
COMPLETE_MARKER = "libs.complete"  # written only after Maven copied every jar


def find_maven() -> str:
    """Path of ``mvn``; raises :class:`FlowcastUserError` saying what to install when missing."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FlowcastUserError(
            "the local Kafka broker's jars are fetched once with Maven but no `mvn` is on PATH; "
            "install Maven 3.6+ (e.g. apt-get install maven) and run again"
        )
    return mvn


def cache_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the jars of Kafka ``version`` are kept: ``$FLOWCAST_CACHE_DIR/kafka-<version>``,
    else ``$XDG_CACHE_HOME/flowcast/kafka-<version>``, else ``~/.cache/flowcast/kafka-<version>``.
    """
    base = os.environ.get(CACHE_ENV)
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = str(Path(xdg) / "flowcast")
    return Path(base).expanduser() / f"kafka-{version}"


def jars_ready(version: str = KAFKA_VERSION) -> bool:
    """True when the jar cache for ``version`` is complete (no Maven run needed)."""
    return _complete_libs(cache_dir(version)) is not None


def ensure_jars(version: str = KAFKA_VERSION, timeout_s: float = 900.0) -> Path:
    """Make sure Kafka ``version``'s jars are in the cache; return the ``libs`` directory.

    The first call runs Maven (about 45 MB, seconds on a good link); later calls only check the
    completion marker. A file lock keeps two processes from downloading at the same time.
    """
    root = cache_dir(version)
    libs = _complete_libs(root)
    if libs is not None:
        return libs
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / ".lock", timeout_s):
        libs = _complete_libs(root)  # another process may have finished while we waited
        if libs is None:
            libs = _download_jars(root, version, timeout_s)
    return libs


@contextlib.contextmanager
def file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing), waiting up to
    ``timeout_s`` seconds for another process to release it."""
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LocalKafkaError(
                        f"timed out waiting for {path} (another process is fetching Kafka's "
                        "jars); remove the file if no such process is running"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _complete_libs(root: Path) -> Path | None:
    marker = root / COMPLETE_MARKER
    libs = root / "libs"
    try:
        names = marker.read_text().split()
    except OSError:
        return None
    if not names or not all((libs / name).is_file() for name in names):
        return None
    return libs


def _download_jars(root: Path, version: str, timeout_s: float) -> Path:
    mvn = find_maven()
    (root / "pom.xml").write_bytes(POM_FILE.read_bytes())
    staging = root / "libs.partial"
    libs = root / "libs"
    for stale in (staging, libs):
        shutil.rmtree(stale, ignore_errors=True)
    (root / COMPLETE_MARKER).unlink(missing_ok=True)
    command = [mvn, "-q", "-B", "-Dstyle.color=never", f"-Dkafka.version={version}",
               "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
    try:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LocalKafkaError(
            f"Maven did not finish fetching Kafka {version}'s jars within {timeout_s:.0f} s"
        ) from None
    jars = sorted(p.name for p in staging.glob("*.jar")) if staging.is_dir() else []
    if done.returncode != 0 or not any(name.startswith("kafka_") for name in jars):
        output = tail_lines((done.stdout + done.stderr).splitlines(), 40)
        raise LocalKafkaError(
            f"Maven could not fetch Kafka {version}'s jars (exit {done.returncode}); check the "
            f"network or ~/.m2/settings.xml. Maven said:\n{output}"
        )
    staging.rename(libs)
    (root / COMPLETE_MARKER).write_text("\n".join(jars) + "\n")
    return libs
