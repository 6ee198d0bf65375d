"""The HTTP side: the standard library's ThreadingHTTPServer with four routes.

Not prometheus_client's ``start_http_server``: that serves the registry on every path
from a thread of its own, while here /metrics shares the port with the page, /healthz
and /api/v1/last, the socket is bound before anything starts (a taken address is exit
2, nothing started) and shutdown is ours to time.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from promkit.core.errors import PromkitError
from promkit.serve.options import address


@dataclass(frozen=True)
class Page:
    """One answer: status, content type, body."""

    status: int
    content_type: str
    body: bytes


Route = Callable[[], Page]


class ListenError(PromkitError):
    """The ``--listen`` address cannot be bound."""


class _Handler(BaseHTTPRequestHandler):
    server: ServeServer

    def do_GET(self) -> None:
        route = self.server.routes.get(urlsplit(self.path).path)
        page = route() if route is not None else Page(404, "text/plain", b"not found\n")
        self._send(page, body=True)

    def do_HEAD(self) -> None:
        route = self.server.routes.get(urlsplit(self.path).path)
        self._send(route() if route is not None else Page(404, "text/plain", b""), body=False)

    def _send(self, page: Page, body: bool) -> None:
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        self.end_headers()
        if body:
            self.wfile.write(page.body)

    def log_message(self, *args: Any) -> None:
        """Quiet: a scrape every few seconds is no news."""


class ServeServer(ThreadingHTTPServer):
    """Serves ``routes`` (path -> answer) in a thread per request."""

    daemon_threads = True

    def __init__(self, host: str, port: int, routes: Mapping[str, Route]) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.routes = dict(routes)
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        """Serve in a thread of its own until ``stop``."""
        thread = threading.Thread(target=self.serve_forever, args=(0.1,), daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def bind(host: str, port: int, routes: Mapping[str, Route]) -> ServeServer:
    """A server bound to host:port (not yet serving), or a ListenError (exit 2)."""
    try:
        return ServeServer(host, port, routes)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ListenError(
            f"cannot listen on {address(host, port)}: {why}: give --listen a free address"
        ) from None
