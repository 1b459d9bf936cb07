"""HTTP API, server-sent events and the guidance-screen and bureau pages (``docs/http-api.md``)."""

from flowcast.serve.http.app import create_app
from flowcast.serve.http.server import HttpServer

__all__ = ["HttpServer", "create_app"]
