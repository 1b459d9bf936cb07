"""The bearer token of the write endpoints comes before their body: 401 whatever the body,
then 422 for a bad body and 404 for an unknown id; a request without the token is not read."""

from __future__ import annotations

import http.client
import re
import socket
from urllib.parse import urlsplit

import pytest
from fastapi import HTTPException
from live_harness import TOKEN, live_settings

from flowcast.serve.http.auth import require_bearer
from serve.http.served import Served, error

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
BAD_BODIES = [(b"{not json", "application/json"), (b'{"by": "x", "colour": "red"}',
                                                     "application/json"),
              (b'{"by": ""}', "application/json"), (b"\xff\xfe", "application/json"),
              (b"by=x", "application/x-www-form-urlencoded")]


def write_urls(served: Served) -> list[tuple[str, str]]:
    """(method, url) of every write endpoint the OpenAPI description lists, path parameters
    filled with the active alert's identifier."""
    identifier = served.active[-1].identifier
    paths = served.client.get("/openapi.json").json()["paths"]
    found = [(method.upper(), re.sub(r"\{[^}]+\}", identifier, path))
             for path, operations in paths.items() for method in sorted(operations)
             if method.upper() in WRITES]
    assert found, "the app has write endpoints"
    return found


@pytest.mark.parametrize("headers, message", [
    ({}, "Authorization: Bearer <token>"),
    ({"Authorization": "Bearer wrong"}, "wrong token"),
    ({"Authorization": f"Basic {TOKEN}"}, "Authorization: Bearer <token>"),
])
def test_every_write_endpoint_answers_401_before_looking_at_the_body(
        served: Served, headers: dict[str, str], message: str) -> None:
    identifier = served.active[-1].identifier
    for method, url in write_urls(served):
        for body, content_type in BAD_BODIES:
            response = served.client.request(method, url, content=body,
                                             headers=headers | {"Content-Type": content_type})
            assert message in error(response, 401), (method, url, body)
            assert response.headers["www-authenticate"] == "Bearer"
        unknown = url.replace(identifier, "flowcast-nope-1-0")
        assert message in error(served.client.request(
            method, unknown, content=b"{not json",
            headers=headers | {"Content-Type": "application/json"}), 401)
    assert served.view.alert(identifier)["acks"] == []


def test_with_the_token_a_bad_body_is_422_an_unknown_id_404_and_a_good_ack_200(
        served: Served) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    identifier = served.active[-1].identifier
    for method, url in write_urls(served):
        for body, content_type in BAD_BODIES[:4]:
            _ = error(served.client.request(method, url, content=body, headers=auth | {
                "Content-Type": content_type}), 422)
        unknown = url.replace(identifier, "flowcast-nope-1-0")
        assert "flowcast-nope" in error(served.client.request(
            method, unknown, json={"by": "x"}, headers=auth), 404)
    assert served.view.alert(identifier)["acks"] == []
    done = served.client.post(f"/api/alerts/{identifier}/ack", headers=auth,
                              json={"by": "duty officer", "note": "gates told"})
    assert done.status_code == 200, done.text
    assert done.json()["ack"]["by"] == "duty officer"
    assert done.json()["alert"]["acknowledged"] is True


def test_no_configured_token_is_401_whatever_the_body() -> None:
    s = Served(live_settings(token=""))
    try:
        for method, url in write_urls(s):
            for headers in ({}, {"Authorization": "Bearer anything"}):
                assert "http.token" in error(s.client.request(
                    method, url, content=b"{not json",
                    headers=headers | {"Content-Type": "application/json"}), 401)
    finally:
        s.close()


def test_an_unauthenticated_body_is_not_waited_for(served: Served) -> None:
    """The 401 comes while most of the declared body is still unsent: it was never read."""
    parts = urlsplit(served.url)
    url = write_urls(served)[0][1]
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(f"POST {url} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: "
                     "application/json\r\nContent-Length: 1000\r\n\r\n{\"by\"".encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 401
        assert b"Bearer" in response.read()


@pytest.mark.parametrize("token, authorization, message", [
    ("", f"Bearer {TOKEN}", "no http.token is configured"),
    (TOKEN, None, "send 'Authorization: Bearer <token>'"),
    (TOKEN, "Bearer", "send 'Authorization: Bearer <token>'"),
    (TOKEN, TOKEN, "send 'Authorization: Bearer <token>'"),
    (TOKEN, f"Bearer {TOKEN}x", "wrong token"),
])
def test_require_bearer_refusals(token: str, authorization: str | None, message: str) -> None:
    with pytest.raises(HTTPException) as refused:
        require_bearer(token, authorization)
    assert refused.value.status_code == 401 and message in refused.value.detail
    assert refused.value.headers == {"WWW-Authenticate": "Bearer"}


def test_require_bearer_accepts_the_token_in_any_scheme_case() -> None:
    require_bearer(TOKEN, f"Bearer {TOKEN}")
    require_bearer(TOKEN, f"bearer  {TOKEN} ")
