"""Slow start: while /-/ready answers 503, verify --wait keeps waiting; at the deadline it says so.

A real Prometheus sits behind a small loopback gate. While the gate is closed it
answers as Prometheus does while its TSDB loads (/-/healthy 200, /-/ready and the API
503 "Service Unavailable"); once opened it passes every request through.
test_verify_wait.py covers a server that is not listening at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Answer, Seen, Server, answering, get, inv_in_background, wait_for

pytestmark = pytest.mark.integration


class Gate:
    """A loopback server answering 503 like a loading Prometheus until ``open()``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.opened = threading.Event()
        self.seen_while_closed: list[str] = []
        self.server = Server({"*": answering(self.answer)}).start()
        self.url = self.server.url

    def answer(self, request: Seen) -> Answer:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.opened.is_set():
            forwarded = get(self.upstream + request.path, timeout=5)
            return Answer(forwarded.status_code, forwarded.content, headers)
        if request.path == "/-/healthy":
            return Answer(200, b"Prometheus Server is Healthy.\n", headers)
        self.seen_while_closed.append(request.path)
        return Answer(503, b"Service Unavailable", headers)

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def gate(processes: Any, prometheus_bin: str, it: Any) -> Iterator[Gate]:
    server = processes.prometheus(prometheus_bin, it.config())
    gate = Gate(server.url)
    yield gate
    gate.close()


def test_verify_waits_while_not_ready_then_passes(gate: Gate, it: Any, tmp_path: Path) -> None:
    args = ("verify.health", "--url", gate.url, "--wait", "60")
    waiting = inv_in_background(tmp_path, *args, env=it.env())
    try:
        # Asked twice while closed: it kept waiting instead of giving up at the first 503.
        wait_for(
            "verify.health to ask /-/ready twice",
            lambda: gate.seen_while_closed.count("/-/ready") >= 2 or None,
            timeout=30,
        )
        assert waiting.alive, "verify.health gave up instead of waiting"
        gate.open()
        done = waiting.wait(timeout=45)  # well before its 60s deadline: it saw the server ready
    finally:
        waiting.stop()
    assert done.returncode == 0, done.output
    assert "is not ready yet (503 on " in done.stderr  # its progress while it waited
    assert "Traceback" not in done.output


def test_verify_reports_not_ready_at_the_deadline(gate: Gate, it: Any) -> None:
    started = time.monotonic()
    result = it.inv("verify.targets", "--url", gate.url, "--wait", "3")
    elapsed = time.monotonic() - started
    out = it.output(result)
    assert result.returncode == 2, out
    assert 3.0 <= elapsed < 15.0, "it waited the whole deadline, and not much more"
    assert len(gate.seen_while_closed) >= 3, "it kept asking while waiting"
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"promkit: Prometheus at {gate.url} is not ready yet (503 on /api/v1/")
    assert last.endswith("try again shortly or pass --wait SECONDS (gave up after waiting 3s)")
    assert "Traceback" not in out
