"""A managed ``kubectl port-forward svc/prometheus``: started on a free loopback port,
waited for until it answers, restarted between rounds if kubectl stopped.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO

from invoke.context import Context

from promkit.core import console, runner, settings
from promkit.core.deadline import Deadline
from promkit.core.errors import PromkitError


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_answers(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class PortForward:
    """A running ``kubectl port-forward`` and the local URL it serves."""

    process: subprocess.Popen[str]
    url: str
    command: str
    errors: IO[str]
    error_output: str = ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Terminate kubectl (killing it if it lingers 5s) and keep what it printed."""
        runner.stop_process(self.process, 5)
        if not self.errors.closed:
            self.errors.seek(0)
            self.error_output = self.errors.read()
            self.errors.close()


def port_forward_argv(
    context: str, namespace: str, service: str, local_port: int, remote_port: int
) -> list[str]:
    """The ``kubectl port-forward`` command, bound to 127.0.0.1 only."""
    return [
        "kubectl",
        "--context",
        context,
        "port-forward",
        "--namespace",
        namespace,
        "--address",
        "127.0.0.1",
        f"svc/{service}",
        f"{local_port}:{remote_port}",
    ]


def start_port_forward(
    context: str,
    namespace: str,
    service: str = "prometheus",
    remote_port: int = 9090,
    *,
    timeout: float = 30.0,
    local_port: int | None = None,
) -> PortForward:
    """Start ``kubectl port-forward`` on a free (or the given) local port; return once it answers.

    It is a long-running background process, so it is started with subprocess.Popen,
    not promkit.core.runner.run (which waits for commands to finish); its command is echoed
    the same way. Raises PromkitError if kubectl exits or the port stays silent.
    """
    port = local_port or free_local_port()
    argv = port_forward_argv(context, namespace, service, port, remote_port)
    command = shlex.join(argv)
    console.say(f"[port-forward] {command}")
    # A file, not a pipe: nobody reads kubectl's stderr while it runs, and a full pipe
    # would block it. It is read only to explain an exit; PortForward.stop closes it.
    errors = tempfile.TemporaryFile(mode="w+t")  # noqa: SIM115
    try:
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=errors, stdin=subprocess.DEVNULL, text=True
        )
    except FileNotFoundError:
        errors.close()
        raise runner.CommandNotFound(argv[0]) from None
    forward = PortForward(process, f"http://127.0.0.1:{port}", command, errors)
    _wait_until_answering(forward, port, timeout)
    return forward


def _wait_until_answering(forward: PortForward, port: int, timeout: float) -> None:
    deadline = Deadline(timeout)
    while not deadline.passed():
        if not forward.running():
            forward.stop()
            raise PromkitError(
                f"`{forward.command}` exited (code {forward.process.returncode}): "
                f"{runner.last_line(forward.error_output) or 'no output'}"
            )
        if port_answers(port):
            return
        time.sleep(0.2)
    forward.stop()
    raise PromkitError(
        f"`{forward.command}` did not answer on 127.0.0.1:{port} within {timeout:g}s: "
        "is the prometheus pod running? (`inv deploy.k8s` waits for it)"
    )


def _port_forward_timeout(c: Context) -> float:
    timeout: float = settings.load(c.config).k8s.port_forward_timeout
    return timeout


class KeptPortForward:
    """A port-forward that ``ensure`` restarts on the same local port whenever kubectl exits.

    kubectl port-forward exits when the pod side refuses a connection (Prometheus still
    starting) or the pod is replaced (a rollout); while verify --wait polls, each round
    first calls ``ensure``, so the URL it checks keeps working.
    """

    def __init__(self, context: str, namespace: str, timeout: float) -> None:
        self.context, self.namespace, self.timeout = context, namespace, timeout
        self.forward = start_port_forward(context, namespace, timeout=timeout)
        self.url = self.forward.url
        self.port = int(self.url.rsplit(":", 1)[1])

    def ensure(self) -> None:
        """Restart kubectl if it has exited; a failed restart is left to the next round."""
        if self.forward.running():
            return
        self.forward.stop()
        with suppress(PromkitError):
            self.forward = start_port_forward(
                self.context, self.namespace, timeout=self.timeout, local_port=self.port
            )

    def stop(self) -> None:
        self.forward.stop()


@contextmanager
def kept_port_forward(c: Context, context: str, namespace: str) -> Iterator[KeptPortForward]:
    """A ``KeptPortForward`` to svc/prometheus, always stopped on exit."""
    forward = KeptPortForward(context, namespace, _port_forward_timeout(c))
    try:
        yield forward
    finally:
        forward.stop()
