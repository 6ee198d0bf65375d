"""Whether a TCP port can be listened on here, and which process holds it if not.

Compose only finds out that a published port is taken once it starts the
container, after creating the rest of the stack; a deploy asks first.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Published:
    """A port the compose model publishes on the host."""

    service: str
    host_ip: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host_ip}:{self.port}"


def published_ports(model: dict[str, Any]) -> list[Published]:
    """Every host port of a rendered compose model (``docker compose config`` JSON)."""
    found = []
    for service, spec in sorted((model.get("services") or {}).items()):
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and str(port.get("published") or "").isdigit():
                host_ip = str(port.get("host_ip") or "0.0.0.0")
                found.append(Published(service, host_ip, int(port["published"])))
    return found


def in_use(host_ip: str, port: int) -> bool:
    """Whether binding ``host_ip:port`` fails because something listens there."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Like a server would: a port left in TIME_WAIT by a stopped one is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host_ip, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def holder(port: int) -> str | None:
    """'NAME (pid N)' of the process listening on ``port``, when this user may see it."""
    import psutil

    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return None
            try:
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None
