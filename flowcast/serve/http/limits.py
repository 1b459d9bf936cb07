"""A request-body size limit (``http.max_body_bytes``), as a pure ASGI middleware.

A request whose ``Content-Length`` is over the limit answers 413 at once, before routing and
before a byte of its body is read. A body without a length (chunked) is counted as it arrives:
the read that passes the limit raises a 413 :class:`HTTPException`, which the application's
error handler answers as JSON; nothing past that read is taken. The answer is the house's
``{"error": ...}``, which is why this is not Starlette's ``RequestBodyLimitMiddleware`` (plain
text ``Content Too Large``, and only in recent releases).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """A request body over the limit (413)."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        what = f"{size} bytes" if size is not None else f"more than {limit} bytes"
        super().__init__(413, f"request body too large: {what}, the limit is {limit} bytes "
                              "(http.max_body_bytes); send a smaller body")


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, reading no more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 for a declared length over the limit, else count what the app reads."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(BodyTooLarge(self.max_bytes, declared), scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as err:  # read where no error handler answers it
            if started:
                raise
            await _refuse(err, scope, receive, send)


async def _refuse(err: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"error": err.detail}, status_code=413,
                            headers={"Connection": "close"})
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when absent (the server refuses a malformed one)."""
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
