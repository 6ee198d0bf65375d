"""Many synthetic scrape targets served by one small process, for the scale figure.

Target ``i`` is ``127.77.X.Y:PORT`` (X = i // 250, Y = i % 250 + 1): every one a
distinct loopback address, so each has its own ``instance`` label, as N real
exporters would. One selectors loop serves them all; each answer closes its
connection, so the process needs N listening sockets but only a handful of
connection sockets (N keep-alive connections would not fit the file limit).

Run as a process: ``python -m bench.synthetic_exporter --targets 10000``. It
prints ``serving N targets on 127.77.0.1-...:PORT`` once every socket listens, then
serves until terminated or ``--max-seconds`` pass (it never outlives a lost parent).
"""

from __future__ import annotations

import argparse
import resource
import selectors
import socket
import sys
import time
from dataclasses import dataclass, field

FIRST_OCTETS = "127.77"
PER_BLOCK = 250
MAX_TARGETS = 50_000
MAX_REQUEST_BYTES = 16_384
BODY = (
    b"# HELP bench_synthetic_info A synthetic target of promkit's scale benchmark.\n"
    b"# TYPE bench_synthetic_info gauge\n"
    b"bench_synthetic_info 1\n"
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"Connection: close\r\n\r\n" + BODY
)


def address(index: int) -> str:
    """The loopback address of target ``index`` (0-based)."""
    return f"{FIRST_OCTETS}.{index // PER_BLOCK}.{index % PER_BLOCK + 1}"


def targets(count: int, port: int) -> list[str]:
    """``host:port`` of every target, in order."""
    return [f"{address(i)}:{port}" for i in range(count)]


def listen_all(count: int, port: int) -> list[socket.socket]:
    """A listening, non-blocking socket on every target address; OSError if one is taken."""
    sockets: list[socket.socket] = []
    try:
        for index in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address(index), port))
            sock.listen(64)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def listen_on_free_port(count: int, attempts: int = 20) -> tuple[int, list[socket.socket]]:
    """A port free on every target address (tried ``attempts`` times), and its sockets."""
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind((address(0), 0))
            port = int(probe.getsockname()[1])
        try:
            return port, listen_all(count, port)
        except OSError:
            continue
    raise SystemExit(f"no port was free on all {count} addresses after {attempts} attempts")


@dataclass
class Server:
    """Accepts on every listening socket; answers each request once, then closes."""

    listeners: list[socket.socket]
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    pending: dict[socket.socket, bytes] = field(default_factory=dict)
    served: int = 0

    def __post_init__(self) -> None:
        for sock in self.listeners:
            self.selector.register(sock, selectors.EVENT_READ, "listen")

    def serve(self, max_seconds: float) -> None:
        """Serve until ``max_seconds`` pass (or the process is terminated)."""
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data == "listen":
                    self._accept(sock)
                else:
                    self._read(sock)

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.pending[conn] = b""
        self.selector.register(conn, selectors.EVENT_READ, "conn")

    def _read(self, conn: socket.socket) -> None:
        try:
            chunk = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        data = self.pending.get(conn, b"") + chunk
        if chunk and b"\r\n\r\n" not in data and len(data) < MAX_REQUEST_BYTES:
            self.pending[conn] = data
            return
        if chunk and data.startswith(b"GET "):
            # Loopback answers this small fit the socket buffer: one send does it.
            try:
                conn.sendall(RESPONSE)
                self.served += 1
            except OSError:
                pass
        self._close(conn)

    def _close(self, conn: socket.socket) -> None:
        self.pending.pop(conn, None)
        self.selector.unregister(conn)
        conn.close()


def raise_file_limit(needed: int) -> None:
    """Lift the soft open-file limit to what ``needed`` sockets take (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise SystemExit(
                f"{needed} targets need {want} open files but the hard limit is {hard}: "
                "use fewer targets or raise `ulimit -Hn`"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args(argv)
    if not 1 <= args.targets <= MAX_TARGETS:
        raise SystemExit(f"--targets must be from 1 to {MAX_TARGETS}")
    raise_file_limit(args.targets)
    port, listeners = listen_on_free_port(args.targets)
    last = address(args.targets - 1)
    print(f"serving {args.targets} targets on {address(0)}-{last}:{port}", flush=True)
    try:
        Server(listeners).serve(min(args.max_seconds, 3600.0))
    except KeyboardInterrupt:
        pass
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    main()
