"""Loopback ports: a free one to give a server, a taken one to make a deploy refuse."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from promkit.k8s.port_forward import free_local_port, port_answers

#: A TCP port on 127.0.0.1 that nothing listens on right now (promkit's own helper).
free_port = free_local_port

__all__ = ["free_port", "port_answers", "taken_port"]


@contextmanager
def taken_port(port: int | None = None) -> Iterator[int]:
    """A socket listening on 127.0.0.1:``port`` (a free one if None) for the block; its port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port or 0))
        sock.listen()
        yield int(sock.getsockname()[1])
