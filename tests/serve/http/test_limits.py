"""Request bodies over ``http.max_body_bytes`` answer 413 with a message, and are never read
whole: a declared length over the limit is refused up front, a chunked body as it passes it."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest
from live_harness import TOKEN, live_settings

from flowcast.config import Settings
from serve.http.served import Served, error

LIMIT = 1024
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def small() -> Iterator[Served]:
    """A served view that takes bodies of at most 1 KiB."""
    s = Served(live_settings(max_body_bytes=LIMIT))
    yield s
    s.close()


def padded(size: int) -> bytes:
    """A valid acknowledgement body of exactly ``size`` bytes (JSON whitespace pads it)."""
    body = orjson.dumps({"by": "duty officer", "note": "padded"})
    return body[:-1] + b" " * (size - len(body)) + b"}"


def chunks(body: bytes, size: int = 256) -> Iterator[bytes]:
    """``body`` in pieces: httpx sends a generator chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_the_default_limit_is_64_kib() -> None:
    assert Settings().http.max_body_bytes == 65536


def test_a_body_at_the_limit_is_taken_one_byte_more_is_413(small: Served) -> None:
    identifier = small.active[-1].identifier
    url = f"/api/alerts/{identifier}/ack"
    over = small.client.post(url, content=padded(LIMIT + 1), headers=AUTH)
    message = error(over, 413)
    assert "1025 bytes" in message and "1024" in message and "http.max_body_bytes" in message
    assert small.view.alert(identifier)["acks"] == []
    done = small.client.post(url, content=padded(LIMIT), headers=AUTH)
    assert done.status_code == 200, done.text


def test_a_chunked_body_over_the_limit_is_413(small: Served) -> None:
    url = f"/api/alerts/{small.active[-1].identifier}/ack"
    response = small.client.post(url, content=chunks(padded(4 * LIMIT)), headers=AUTH)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "http.max_body_bytes" in error(response, 413)
    taken = small.client.post(url, content=chunks(padded(LIMIT)), headers=AUTH)
    assert taken.status_code == 200, taken.text


def test_an_unauthenticated_big_body_is_refused(small: Served) -> None:
    url = f"/api/alerts/{small.active[-1].identifier}/ack"
    for content in (padded(8 * LIMIT), chunks(padded(8 * LIMIT))):
        response = small.client.post(url, content=content,
                                     headers={"Content-Type": "application/json"})
        assert response.status_code in (401, 413), response.text
        assert response.json()["error"]


def send_raw(served: Served, head: str, body: bytes) -> tuple[int, dict[str, str]]:
    """Send a request's head and part of its body on a socket; the status and JSON answer,
    read without sending the rest (a server waiting for it would time out the socket)."""
    parts = urlsplit(served.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, orjson.loads(response.read())


def test_a_20_mb_content_length_is_refused_before_any_byte_is_read(small: Served) -> None:
    url = f"/api/alerts/{small.active[-1].identifier}/ack"
    for auth in ("", f"Authorization: Bearer {TOKEN}\n"):
        status, body = send_raw(small, f"POST {url} HTTP/1.1\nHost: x\n{auth}"
                                       "Content-Type: application/json\n"
                                       "Content-Length: 20000000\n", b'{"by": ')
        assert status == 413
        assert "20000000 bytes" in body["error"] and "http.max_body_bytes" in body["error"]


def test_a_chunked_body_is_refused_as_it_passes_the_limit(small: Served) -> None:
    url = f"/api/alerts/{small.active[-1].identifier}/ack"
    piece = b" " * 700
    unfinished = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b"{", piece, piece))
    status, body = send_raw(small, f"POST {url} HTTP/1.1\nHost: x\nAuthorization: Bearer "
                                   f"{TOKEN}\nContent-Type: application/json\n"
                                   "Transfer-Encoding: chunked\n", unfinished)
    assert status == 413 and "more than 1024 bytes" in body["error"]


def test_a_get_with_a_big_declared_body_is_413_too(small: Served) -> None:
    status, body = send_raw(small, "GET /api/alerts HTTP/1.1\nHost: x\n"
                                   "Content-Length: 5000\n", b"")
    assert status == 413 and body["error"]
