"""A real HTTP(S) server on 127.0.0.1 whose answers a test decides, for canned replies
(a loading Prometheus, an HTTP 500, a recorded server) that still go over a socket."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    """What the client sent: method, path with its query, headers, body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    """What the server sends back."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] | None = None


Responder = Callable[[Request], Answer]


def _handler(respond: Responder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, self.path, dict(self.headers.items()), body)
            answer = respond(request)
            self.send_response(answer.status)
            for name, value in (answer.headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass  # the tests' output stays theirs

    return Handler


class LoopbackServer:
    """``respond`` answering every request on a free 127.0.0.1 port, in a thread;
    with ``tls`` (a server-side SSLContext), over HTTPS."""

    def __init__(self, respond: Responder, tls: ssl.SSLContext | None = None) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(respond))
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving(respond: Responder, tls: ssl.SSLContext | None = None) -> Iterator[LoopbackServer]:
    """A LoopbackServer for the block; closed afterwards, pass or fail."""
    server = LoopbackServer(respond, tls)
    try:
        yield server
    finally:
        server.close()
