"""The serving side of one process, set up in one call: a live view of the output topics fed
by an output reader, and the HTTP API and pages served on a port.

``flowcast run --port`` and ``flowcast demo`` both serve through :meth:`Service.start`; each
brings only its own consumer (Kafka or the in-process bus), clock and listeners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from flowcast.city import City
from flowcast.config import Settings
from flowcast.engine.metrics import Metrics
from flowcast.serve.http import HttpServer, create_app
from flowcast.serve.output_reader import OutputReader, wall_ms
from flowcast.serve.view import Listener, LiveView


class Service:
    """A started live view, its output reader and its HTTP server; :attr:`url` is the base URL
    (``http://host:port``). Stop it with :meth:`close` (or use it as a context manager)."""

    def __init__(self, view: LiveView, reader: OutputReader, server: HttpServer,
                 url: str) -> None:
        self.view = view
        self.reader = reader
        self.server = server
        self.url = url

    @classmethod
    def start(cls, city: City, settings: Settings, consumer: Any, *,
              port: int | None = None, metrics: Metrics | None = None,
              engine_ready: Callable[[], bool] | None = None,
              connected: Callable[[], bool] | None = None,
              clock_ms: Callable[[], int] = wall_ms,
              listeners: Iterable[Listener] = ()) -> Service:
        """Serve ``city``'s outputs on ``settings.http.host`` and ``port`` (default
        ``http.port``; 0: any free port).

        ``consumer``: a consumer **without a group** over the output topics (it is closed with
        the service); ``metrics``: the engine's counters, rendered first at ``/metrics``;
        ``engine_ready``: ``/readyz`` also answers ready when this says so (the view alone is
        ready once the first road condition arrived); ``connected``: while this says False
        (the engine cut off from Kafka) ``/readyz`` answers 503 whatever else; ``clock_ms``:
        epoch ms "now" for the recent window read on start; ``listeners``: called as
        ``fn(kind, payload)`` for every message, from the first one read. Raises
        :class:`flowcast.errors.FlowcastUserError` when the port cannot be bound (nothing is
        left running then).
        """
        view = LiveView(city, settings)
        for listener in listeners:
            view.add_listener(listener)

        def ready() -> bool:
            if connected is not None and not connected():
                return False
            return view.ready.is_set() or (engine_ready is not None and engine_ready())

        reader = OutputReader(consumer, view, settings, clock_ms=clock_ms).start()
        app = create_app(view, settings, metrics=metrics, ready=ready)
        server = HttpServer(app, settings.http.host,
                            settings.http.port if port is None else port)
        try:
            url = server.start()
        except BaseException:
            reader.stop()
            raise
        return cls(view, reader, server, url)

    def close(self) -> None:
        """End the SSE streams and stop the server, then stop the reader and close its
        consumer."""
        try:
            self.server.stop()
        finally:
            self.reader.stop()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
