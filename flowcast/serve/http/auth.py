"""The bearer token of the write endpoints, checked before the request body is read.

FastAPI reads and decodes a route's body before it runs any of the route's dependencies (a body
that is not JSON answers 422 before a dependency could answer 401). So the check is not a
dependency: :func:`bearer_route` gives a route class whose handler checks the
``Authorization`` header first and only then hands the request to FastAPI's own handler, which
reads, decodes and validates the body. Every route of a router built with
``APIRouter(route_class=bearer_route(token))`` is guarded; its body schema, validation and
OpenAPI description stay FastAPI's.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require_bearer(token: str, authorization: str | None) -> None:
    """Raise a 401 :class:`HTTPException` unless ``authorization`` is ``Bearer <token>``.

    An empty ``token`` (none configured) refuses every request; the token is compared in
    constant time."""
    if not token:
        raise HTTPException(401, "acknowledging is disabled: no http.token is configured "
                                 "(set FLOWCAST_HTTP_TOKEN)", headers=CHALLENGE)
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HTTPException(401, "send 'Authorization: Bearer <token>' to acknowledge",
                            headers=CHALLENGE)
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "wrong token", headers=CHALLENGE)


def bearer_route(token: str) -> type[APIRoute]:
    """A route class that answers 401 (:func:`require_bearer`) before the body is read."""

    class BearerRoute(APIRoute):
        """An :class:`APIRoute` that needs ``Authorization: Bearer <http.token>``."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            """FastAPI's handler (body, validation, endpoint), behind the token check."""
            handler = super().get_route_handler()

            async def authenticated(request: Request) -> Response:
                require_bearer(token, request.headers.get("authorization"))
                return await handler(request)

            return authenticated

    return BearerRoute
