"""Real HTTP(S) servers on 127.0.0.1 for tests: a route table, every request recorded.

One place for the loopback servers tests talk to (promkit's Prometheus client, the
sample traffic, a recorded server for a whole verification round). A route is a
function of the handler and the request it got; ``reply`` makes the common one,
``answering`` one from a function of the request. ``not_http`` is a TCP server that
answers something else, and ``self_signed`` a throwaway certificate (openssl) for an
HTTPS server. A port where nothing listens: ``tests.support.ports.free_port``.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sh


@dataclass(frozen=True)
class Seen:
    """One request a server got: method, path with query, headers (lower-case names), body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


Route = Callable[[BaseHTTPRequestHandler, Seen], None]


class Server(ThreadingHTTPServer):
    """Answers each path from ``routes`` (``"*"`` for any other path, else 404)."""

    daemon_threads = True

    def __init__(
        self,
        routes: Mapping[str, Route],
        tls: ssl.SSLContext | None = None,
        keep_alive: bool = False,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _KeepAliveHandler if keep_alive else _Handler)
        self.routes = dict(routes)
        self.tls = tls
        self.seen: list[Seen] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}"

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def start(self) -> Server:
        """Serve in a thread of its own until ``close``."""
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def close(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake happens in the connection's thread, so a client that gives up
        # (unknown CA, plain HTTP) cannot stall the server.
        if isinstance(request, ssl.SSLSocket):
            request.do_handshake()
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that hang up or refuse the certificate are what tests do."""


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        seen = Seen(self.command, self.path, headers, body)
        self.server.seen.append(seen)
        routes = self.server.routes
        route = routes.get(urlsplit(self.path).path) or routes.get("*") or reply(404, b"")
        route(self, seen)

    do_GET = do_POST = _dispatch

    def log_message(self, *args: Any) -> None:
        pass


class _KeepAliveHandler(_Handler):
    """HTTP/1.1: connections stay open between requests, as Prometheus' do."""

    protocol_version = "HTTP/1.1"


@dataclass(frozen=True)
class Answer:
    """What ``answering``'s function sends back."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] | None = None


def answering(respond: Callable[[Seen], Answer]) -> Route:
    """A route sending whatever ``respond`` makes of each request."""

    def route(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        answer = respond(seen)
        h.send_response(answer.status)
        for name, value in (answer.headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(answer.body)))
        h.end_headers()
        h.wfile.write(answer.body)

    return route


def reply(status: int, body: bytes = b"", **headers: str) -> Route:
    """A route answering ``status`` and ``body``; ``Content_Type="x"`` sends Content-Type: x."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return answering(lambda _: Answer(status, body, named))


def slow(seconds: float, route: Route) -> Route:
    """``route``, after waiting ``seconds``."""

    def late(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        time.sleep(seconds)
        route(h, seen)

    return late


@contextmanager
def serving(
    routes: Mapping[str, Route], tls: ssl.SSLContext | None = None, keep_alive: bool = False
) -> Iterator[Server]:
    """A running server for the ``with`` block, shut down and closed afterwards
    (``keep_alive``: HTTP/1.1, connections kept open between requests)."""
    server = Server(routes, tls, keep_alive).start()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def not_http(answer: bytes) -> Iterator[str]:
    """The http:// URL of a TCP server that reads one request, sends ``answer``, hangs up."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def respond() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(answer)

        threading.Thread(target=respond, daemon=True).start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def self_signed(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A throwaway certificate for 127.0.0.1 (its own CA) and a server context using it."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    sh.openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=promkit"),
        *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert),
        _err_to_out=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context
