"""Server-sent events: every new live-view message, fanned out to the connected clients.

:class:`EventHub` is a live-view listener (called on the reader's thread) that hands each
message to every subscriber's asyncio queue on the server's event loop. A client that falls
``max_queue`` messages behind is dropped (its stream ends; ``EventSource`` reconnects), so a
slow browser never holds memory or the reader back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import orjson

log = logging.getLogger("flowcast.serve.http")

_CLOSE = object()  # sentinel: end the stream


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
        frame = f"event: {kind}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n"
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, frame)
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
