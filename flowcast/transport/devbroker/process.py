"""The local broker process: one JVM running ``kafka.Kafka`` as broker and controller,
listening on 127.0.0.1 only. Needs Java 17+ (always) and Maven (only on the first run for a
given Kafka version, see :mod:`flowcast.transport.devbroker.jars`).

Use it as a context manager::

    with LocalKafka() as kafka:          # free ports, temporary data dir removed on exit
        produce_to(kafka.bootstrap)

or keep data across restarts with a fixed directory and port (what ``flowcast broker`` does)::

    LocalKafka(data_dir="kafka-data", port=9092).start()
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from flowcast.errors import FlowcastUserError
from flowcast.transport.devbroker.jars import KAFKA_VERSION, ensure_jars
from flowcast.transport.devbroker.jvm import die_with_parent_hook, find_java, jvm_options, min_heap
from flowcast.transport.devbroker.logs import (
    CONSOLE_FILE,
    LOG_FILE,
    LocalKafkaError,
    read_tail,
    render_log4j2,
)
from flowcast.transport.devbroker.ports import accepts_connections, free_port, port_in_use
from flowcast.transport.devbroker.storage import (
    KAFKA_LOG_DIR,
    formatted_storage,
    render_server_properties,
)
from flowcast.transport.kafka_client import KafkaUnreachableError, wait_for_broker

_BIND_FAILURE = re.compile(r"Address already in use|BindException|Failed to bind")


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

    def kill(self) -> None:
        """Kill the JVM at once (SIGKILL: no shutdown, no flush, as a crash or a pulled plug)
        and keep its data. :meth:`start` again brings the same broker back, on the same port
        when one was given."""
        self._kill()

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
            text = read_tail(self._data_dir / name, lines)
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
                start_new_session=True, preexec_fn=die_with_parent_hook(),
            )
        self._wait_until_ready()

    def jvm_options(self) -> list[str]:
        """The JVM flags of the broker process (heap, GC) before the classpath."""
        return jvm_options(self.heap, self.extra_jvm_options)

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
            if not accepts_connections(self.bootstrap):
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
