"""Run the FastAPI app with uvicorn in a background thread."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from flowcast.errors import FlowcastUserError

log = logging.getLogger("flowcast.serve.http")


class HttpServer:
    """uvicorn serving ``app`` on ``host:port`` from a daemon thread. ``port`` 0 picks a free
    port; :meth:`start` returns the base URL with the real one."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self, timeout_s: float = 10.0) -> str:
        """Bind, start serving, wait until uvicorn accepts connections; return the base URL
        (``http://host:port``). Raises :class:`FlowcastUserError` when the address cannot be
        bound (in use, not local) and ``RuntimeError`` if uvicorn does not start in time."""
        sock = self._bind()
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2,
                                timeout_keep_alive=5)
        server = uvicorn.Server(config)
        self._server = server

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as err:  # SystemExit from uvicorn included
                self._failure = err
                log.exception("HTTP server stopped on an error")

        self._thread = threading.Thread(target=serve, name="flowcast-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the HTTP server did not start: {self._failure!r}")
            time.sleep(0.02)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.port = port
        self.url = f"http://{host}:{port}"
        return self.url

    def _bind(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except socket.gaierror as err:
            raise FlowcastUserError(f"cannot serve HTTP on {self.host!r}: {err.strerror}; set "
                                    "http.host to a local address") from None
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            sock.close()
            raise FlowcastUserError(f"cannot serve HTTP on {self.host}:{self.port}: "
                                    f"{err.strerror}; pick another --port (0: any free one)"
                                    ) from None
        sock.listen(128)
        sock.set_inheritable(True)
        return sock

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the SSE streams, stop accepting, wait for the thread."""
        hub = getattr(self.app.state, "hub", None)
        if hub is not None:
            hub.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout_s)
