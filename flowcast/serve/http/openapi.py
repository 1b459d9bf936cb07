"""The ``responses=`` of the routes: what ``/openapi.json`` says each answers.

:func:`documented` declares a route's 200 model (:mod:`flowcast.serve.http.schemas`) and its
error answers, documentation only (see ``app.py``); :data:`EVENTS` and :data:`METRICS`
describe the two answers that are not JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from flowcast.serve.http.schemas.common import ErrorBody, InvalidRequest, Ready

Responses = dict[int | str, dict[str, Any]]

ERRORS: dict[int, tuple[type[BaseModel], str]] = {
    400: (ErrorBody, "a filter names what the city does not have"),
    401: (ErrorBody, "no bearer token, a wrong one, or none configured (http.token); the body "
                     "is not read"),
    404: (ErrorBody, "not found; the message says what exists"),
    413: (ErrorBody, "the request body is over http.max_body_bytes"),
    422: (InvalidRequest, "invalid parameters or body"),
    503: (Ready, "not ready: no outputs flow yet, or the engine is cut off from Kafka"),
}
"""The answers other than 200 a route may give: body model and when."""


def documented(model: type[BaseModel], description: str, *statuses: int) -> Responses:
    """``responses=`` of a JSON route: ``model`` for 200 and the :data:`ERRORS` of
    ``statuses`` (a route with parameters declares 422, or FastAPI documents its own 422
    body, which is not the one this API answers)."""
    out: Responses = {200: {"model": model, "description": description}}
    for status in statuses:
        body, when = ERRORS[status]
        out[status] = {"model": body, "description": when}
    return out


EVENTS: Responses = {
    200: {"description": "a text/event-stream: 'retry' and ': connected', then one event per "
                         "new message (condition, spot, alert, screen, ack) and ': keepalive' "
                         "comments; with ?once the current state, an 'end' event, and the end",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    422: {"model": InvalidRequest, "description": ERRORS[422][1]},
}

METRICS: Responses = {
    200: {"description": "Prometheus text exposition format 0.0.4: the engine's families, "
                         "then the live view's and the server's",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
}
