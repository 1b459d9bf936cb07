"""Server-sent events: every new live-view message, fanned out to the connected clients.

:class:`EventHub` is a live-view listener (called on the reader's thread) that hands each
message to every subscriber's asyncio queue on the server's event loop. A client that falls
``max_queue`` messages behind is dropped (its stream ends; ``EventSource`` reconnects), so a
slow browser never holds memory or the reader back.

:meth:`EventHub.once` is the stream of ``GET /api/events?once``: the view's current state
(:func:`current_state`) as the same events, then an ``end`` event, and the stream closes. A
headless browser's virtual-time budget can then run out (a live stream never lets it), so the
pages can be screenshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from flowcast.serve.view import LiveView

log = logging.getLogger("flowcast.serve.http")

_CLOSE = object()  # sentinel: end the stream
ONCE_RETRY_MS = 86_400_000
"""The reconnection delay a ``?once`` stream asks for: a client that does not close its
``EventSource`` on ``end`` still does not come back within a screenshot's time budget."""

ONCE_CHUNK = 256  # events per write of a ?once stream (a big city has thousands)

Event = tuple[str, dict[str, Any]]


def frame(kind: str, payload: dict[str, Any]) -> bytes:
    """One server-sent event: ``event: <kind>`` and the payload as one ``data:`` line."""
    return f"event: {kind}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n"


def current_state(view: LiveView) -> list[Event]:
    """The view's state as the events that built it: every segment's latest ``condition``,
    every ranked ``screen``, every spot's latest ``spot`` forecast, and an ``alert`` per
    active or recently cancelled alert (its latest message and the alert as it stands,
    acknowledgements included)."""
    events: list[Event] = [("condition", c) for c in view.conditions()]
    events += [("screen", s) for s in view.screens() if s.get("issued_at") is not None]
    events += [("spot", s["forecast"]) for s in view.spots() if s.get("forecast") is not None]
    events += [("alert", {"spot": a["spot"], "message": a["messages"][-1], "alert": a})
               for a in view.alerts(include_cancelled=True) if a.get("messages")]
    return events


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, max_queue: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_queue)
        self.dropped = False

    def offer(self, item: Any) -> None:
        """Runs on the event loop: queue ``item``, or end the stream when full."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(_CLOSE)


class EventHub:
    """Fans ``(kind, payload)`` messages out to SSE subscribers; thread-safe."""

    def __init__(self, keepalive_s: float, max_queue: int = 5000) -> None:
        self.keepalive_s = keepalive_s
        self.max_queue = max_queue
        self.sent = 0  # events written to clients
        self._lock = threading.Lock()
        self._subscribers: set[_Subscriber] = set()
        self._closed = False

    @property
    def clients(self) -> int:
        """Connected SSE clients."""
        with self._lock:
            return len(self._subscribers)

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        """The live-view listener: encode once, queue for every client."""
        with self._lock:
            subscribers = list(self._subscribers)
        if not subscribers:
            return
        data = frame(kind, payload)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, data)
            except RuntimeError:  # the loop is closed: the server stopped
                self._remove(sub)

    def close(self) -> None:
        """End every stream (the server is stopping); new streams end at once."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
        for sub in subscribers:
            with contextlib.suppress(RuntimeError):
                sub.loop.call_soon_threadsafe(sub.offer, _CLOSE)

    def _remove(self, sub: _Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    async def stream(self) -> AsyncIterator[bytes]:
        """One client's event stream: a ``retry`` hint, then events as they come, and a
        keepalive comment after ``keepalive_s`` seconds of silence."""
        sub = _Subscriber(asyncio.get_running_loop(), self.max_queue)
        with self._lock:
            if self._closed:
                return
            self._subscribers.add(sub)
        try:
            yield b"retry: 3000\n: connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), self.keepalive_s)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if item is _CLOSE:
                    return
                self.sent += 1
                yield item
        finally:
            self._remove(sub)

    async def once(self, events: Iterable[Event]) -> AsyncIterator[bytes]:
        """A stream of ``events`` then ``end`` (``{"events": <how many>}``), closed at once:
        no subscription, no keepalive, and a one-day ``retry`` (:data:`ONCE_RETRY_MS`)."""
        yield f"retry: {ONCE_RETRY_MS}\n: connected, once\n\n".encode()
        count = 0
        chunk: list[bytes] = []
        for kind, payload in events:
            chunk.append(frame(kind, payload))
            if len(chunk) == ONCE_CHUNK:
                count += len(chunk)
                yield b"".join(chunk)
                chunk = []
        count += len(chunk)
        self.sent += count
        yield b"".join(chunk) + frame("end", {"events": count})
