"""A real single-node Apache Kafka 4.x broker (KRaft) on loopback, for tests and development.

The broker's jars are resolved once with Maven from ``flowcast/data/kafka/pom.xml`` into a cache
outside the repository (``$FLOWCAST_CACHE_DIR/kafka-<version>/libs``, default
``~/.cache/flowcast/kafka-<version>/libs``) and reused afterwards. A broker is then one JVM
running ``kafka.Kafka`` as broker and controller, listening on 127.0.0.1 only.

Use it as a context manager::

    with LocalKafka() as kafka:          # free ports, temporary data dir removed on exit
        produce_to(kafka.bootstrap)

or keep data across restarts with a fixed directory and port (what ``flowcast broker`` does)::

    LocalKafka(data_dir="kafka-data", port=9092).start()

Needs Java 17+ (always) and Maven (only on the first run for a given Kafka version).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from flowcast.errors import FlowcastUserError
from flowcast.transport.kafka_client import KafkaUnreachableError, wait_for_broker

KAFKA_VERSION = "4.1.1"
POM_FILE = Path(__file__).resolve().parents[1] / "data" / "kafka" / "pom.xml"
MIN_JAVA = 17
NODE_ID = 1
CACHE_ENV = "FLOWCAST_CACHE_DIR"
COMPLETE_MARKER = "libs.complete"  # written only after Maven copied every jar
LOG_FILE = "broker.log"  # log4j2 output, WARN and above
CONSOLE_FILE = "console.log"  # the JVM's own stdout/stderr (crashes before log4j starts)
KAFKA_LOG_DIR = "kafka-logs"  # Kafka's log.dirs: partitions and the KRaft metadata log
# C1 only: about 40% faster start on a small busy machine (C2 compiler threads compete for the
# cores); a Python client saturates long before the broker's JIT level matters. Pass
# extra_jvm_options=["-XX:TieredStopAtLevel=4"] for full optimisation (the last flag wins).
DEFAULT_JVM_OPTIONS = ("-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")
_BIND_FAILURE = re.compile(r"Address already in use|BindException|Failed to bind")


class LocalKafkaError(RuntimeError):
    """The local broker could not be provisioned or started; the message carries its log tail."""


# --- Java, Maven and the jar cache ------------------------------------------------------------


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
    with _file_lock(root / ".lock", timeout_s):
        libs = _complete_libs(root)  # another process may have finished while we waited
        if libs is None:
            libs = _download_jars(root, version, timeout_s)
    return libs


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
        output = _tail_lines((done.stdout + done.stderr).splitlines(), 40)
        raise LocalKafkaError(
            f"Maven could not fetch Kafka {version}'s jars (exit {done.returncode}); check the "
            f"network or ~/.m2/settings.xml. Maven said:\n{output}"
        )
    staging.rename(libs)
    (root / COMPLETE_MARKER).write_text("\n".join(jars) + "\n")
    return libs


@contextlib.contextmanager
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
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


# --- configuration files ----------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if ``port`` on ``host`` cannot be bound (something else is listening there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def new_cluster_id() -> str:
    """A random Kafka cluster id: a UUID as 22 characters of unpadded URL-safe base64."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):  # Kafka's own ids never do: it would read as a flag
            return text


def render_server_properties(
    port: int, controller_port: int, log_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The ``server.properties`` of a single combined broker+controller node on 127.0.0.1.

    ``port`` serves clients (PLAINTEXT), ``controller_port`` the KRaft controller; ``log_dir``
    holds the partitions and the metadata log. ``extra`` adds or overrides broker settings.
    """
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        # A static voter set: the controller's port is read from this file at each start, so a
        # kept data dir can be restarted on new ports (a --standalone format would pin it).
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "auto.create.topics.enable": "false",  # flowcast creates its topics (`topics create`)
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",  # 50 by default: slower first group join
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    props.update(extra or {})
    lines = [f"{key}={_escape_property(value)}" for key, value in props.items()]
    return "# written by flowcast.transport.devbroker\n" + "\n".join(lines) + "\n"


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


def render_log4j2(log_file: Path) -> str:
    """A log4j2 XML config sending WARN and above to ``log_file`` only (a quiet console)."""
    from xml.sax.saxutils import quoteattr

    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="ERROR">
  <Appenders>
    <File name="file" fileName={quoteattr(str(log_file))} append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def formatted_storage(java: str, libs: Path, version: str = KAFKA_VERSION) -> Path:
    """An empty, formatted KRaft log directory for node :data:`NODE_ID`, made once per Kafka
    version in the cache with ``kafka.tools.StorageTool format`` and copied into each new
    broker's data dir (a format is a JVM start of its own: seconds saved on every start).

    Brokers copied from it share a cluster id; they are separate single-node clusters anyway.
    """
    root = cache_dir(version)
    template = root / "kraft-template"
    marker = root / "kraft-template.complete"
    if marker.exists():
        return template
    with _file_lock(root / ".lock", 300.0):
        if not marker.exists():
            _format_storage(java, libs, template)
            marker.write_text(f"{version}\n")
    return template


def _format_storage(java: str, libs: Path, target: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="flowcast-kafka-format-"))
    try:
        logs = work / KAFKA_LOG_DIR
        props = work / "server.properties"
        props.write_text(render_server_properties(9092, 9093, logs))  # nothing binds them
        (work / "log4j2.xml").write_text(render_log4j2(work / LOG_FILE))
        command = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={work / 'log4j2.xml'}",
                   "-cp", f"{libs}{os.sep}*", "kafka.tools.StorageTool", "format",
                   "-t", new_cluster_id(), "-c", str(props)]
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            output = _tail_lines((done.stdout + done.stderr).splitlines(), 40)
            raise LocalKafkaError(f"formatting Kafka storage failed:\n{output}")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(logs, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _accepts_connections(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


# --- the broker -------------------------------------------------------------------------------


class LocalKafka:
    """One single-node Kafka broker+controller JVM on 127.0.0.1.

    ``port``: client port (default: a free one). ``data_dir``: keep data there across restarts
    (default: a temporary directory, removed by :meth:`stop`). ``heap``: JVM ``-Xmx``.
    ``startup_timeout_s``: how long :meth:`start` waits for the broker to answer.
    ``extra_properties``: broker settings added to, or replacing, the defaults (``node.id`` is
    fixed: storage is formatted for it). ``extra_jvm_options``: JVM flags after the defaults.

    On Linux the JVM is told to stop when the thread that started it ends, so a killed test
    run leaves no broker behind: start it from a thread that outlives it (e.g. the main one).
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | Path | None = None,
        *,
        version: str = KAFKA_VERSION,
        heap: str = "512m",
        startup_timeout_s: float = 90.0,
        extra_properties: Mapping[str, str] | None = None,
        extra_jvm_options: Sequence[str] = (),
    ) -> None:
        min_heap(heap)  # a bad size is a user error now, not after a download
        self.version = version
        self.extra_jvm_options = list(extra_jvm_options)
        self.heap = heap
        self.startup_timeout_s = startup_timeout_s
        self.extra_properties = dict(extra_properties or {})
        self._fixed_port = port
        self._keep_data = data_dir is not None
        self._data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    # context manager -------------------------------------------------------------------------

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # public ----------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT`` for clients; only valid after :meth:`start`."""
        if self._port is None:
            raise RuntimeError("LocalKafka.bootstrap read before start()")
        return f"127.0.0.1:{self._port}"

    @property
    def data_dir(self) -> Path:
        """The broker's directory: Kafka's data, its config files and its logs."""
        if self._data_dir is None:
            raise RuntimeError("LocalKafka.data_dir read before start()")
        return self._data_dir

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs, else None."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> LocalKafka:
        """Fetch jars if needed, format storage on first use, launch the JVM and wait until it
        answers a metadata request. Returns ``self``.

        Raises :class:`FlowcastUserError` (Java/Maven missing, port taken) or
        :class:`LocalKafkaError` (the broker failed; the message has its log tail).
        """
        if self._proc is not None:
            raise RuntimeError("LocalKafka already started")
        if self._fixed_port is not None and port_in_use(self._fixed_port):
            raise FlowcastUserError(
                f"port {self._fixed_port} on 127.0.0.1 is already in use; pick another --port or "
                "leave it out to use a free one"
            )
        java = find_java()
        libs = ensure_jars(self.version)
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="flowcast-kafka-"))
        self._data_dir.mkdir(parents=True, exist_ok=True)
        # Ports picked by us can be taken by someone else before the JVM binds them: retry.
        attempts = 1 if self._fixed_port is not None else 3
        for attempt in range(attempts):
            try:
                self._launch(java, libs)
                return self
            except LocalKafkaError as err:
                self._kill()
                if attempt + 1 == attempts or not _BIND_FAILURE.search(str(err)):
                    self._remove_temp_dir()
                    raise
        raise AssertionError("unreachable")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``) and remove a temporary
        data dir. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        self._remove_temp_dir()

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Block until the JVM exits (or ``timeout_s`` passes); its exit status, or None if it
        still runs or was never started."""
        proc = self._proc
        if proc is None:
            return None
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the broker's log, and of the JVM console if it wrote any."""
        if self._data_dir is None:
            return "(broker not started)"
        parts = []
        for name in (CONSOLE_FILE, LOG_FILE):
            text = _read_tail(self._data_dir / name, lines)
            if text:
                parts.append(f"--- {self._data_dir / name} ---\n{text}")
        return "\n".join(parts) if parts else f"(no log lines in {self._data_dir})"

    # internals -------------------------------------------------------------------------------

    def _launch(self, java: str, libs: Path) -> None:
        data = self.data_dir
        self._port = self._fixed_port if self._fixed_port is not None else free_port()
        controller_port = free_port()
        while controller_port == self._port:
            controller_port = free_port()
        props = data / "server.properties"
        props.write_text(render_server_properties(
            self._port, controller_port, data / KAFKA_LOG_DIR, self.extra_properties))
        log4j = data / "log4j2.xml"
        log4j.write_text(render_log4j2(data / LOG_FILE))
        if not (data / KAFKA_LOG_DIR / "meta.properties").exists():
            shutil.rmtree(data / KAFKA_LOG_DIR, ignore_errors=True)
            shutil.copytree(formatted_storage(java, libs, self.version), data / KAFKA_LOG_DIR)
        command = [java, *self.jvm_options(), f"-Dlog4j2.configurationFile={log4j}",
                   "-cp", f"{libs}{os.sep}*", "kafka.Kafka", str(props)]
        with (data / CONSOLE_FILE).open("ab") as console:
            self._proc = subprocess.Popen(
                command, cwd=data, stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                start_new_session=True, preexec_fn=_die_with_parent_hook(),
            )
        self._wait_until_ready()

    def jvm_options(self) -> list[str]:
        """The JVM flags of the broker process (heap, GC) before the classpath."""
        return [f"-Xms{min_heap(self.heap)}", f"-Xmx{self.heap}", *DEFAULT_JVM_OPTIONS,
                *self.extra_jvm_options]

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise LocalKafkaError(
                    f"the Kafka broker exited with status {code} while starting; its log:\n"
                    f"{self.log_tail()}"
                )
            if not _accepts_connections(self.bootstrap):
                time.sleep(0.1)  # JVM still starting: check often, and whether it died
                continue
            try:
                wait_for_broker(self.bootstrap, timeout_s=2.0)
                return
            except KafkaUnreachableError as err:
                last = err.reason
        raise LocalKafkaError(
            f"the Kafka broker did not answer on {self.bootstrap} within "
            f"{self.startup_timeout_s:.0f} s ({last}); its log:\n{self.log_tail()}"
        )

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    def _remove_temp_dir(self) -> None:
        if not self._keep_data and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None


def start_local_kafka(
    port: int | None = None,
    data_dir: str | Path | None = None,
    *,
    version: str = KAFKA_VERSION,
    heap: str = "512m",
    startup_timeout_s: float = 90.0,
    extra_properties: Mapping[str, str] | None = None,
    extra_jvm_options: Sequence[str] = (),
) -> LocalKafka:
    """Start a :class:`LocalKafka` (same arguments) and return it, running; call ``.stop()``."""
    return LocalKafka(port, data_dir, version=version, heap=heap,
                      startup_timeout_s=startup_timeout_s, extra_properties=extra_properties,
                      extra_jvm_options=extra_jvm_options).start()


def min_heap(heap: str) -> str:
    """The JVM ``-Xms`` used with ``-Xmx`` ``heap``: a quarter of it, at least 64m."""
    match = re.fullmatch(r"(\d+)([kmgKMG]?)", heap)
    if not match:
        raise FlowcastUserError(f"heap size {heap!r} is not like 512m or 1g")
    scale = {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}[match.group(2).lower()]
    return f"{max(64, int(int(match.group(1)) * scale) // 4)}m"


def _die_with_parent_hook() -> Callable[[], None] | None:
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


def _read_tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return _tail_lines(text.splitlines(), lines)


def _tail_lines(lines: list[str], count: int) -> str:
    return "\n".join(lines[-count:])
