"""HTTP API, server-sent events and the guidance-screen and bureau pages (``docs/http-api.md``)."""

from flowcast.publish.http.app import create_app
from flowcast.publish.http.server import HttpServer

__all__ = ["HttpServer", "create_app"]
