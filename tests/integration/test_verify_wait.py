"""--wait: a server that is not there yet is waited for; one that never comes says so."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import inv_in_background

pytestmark = pytest.mark.integration


def test_wait_until_prometheus_starts(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    port = it.free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("verify.health", "--url", url, "--wait", "60")
    waiting = inv_in_background(tmp_path, *args, env=it.env())
    try:
        time.sleep(1.5)
        assert waiting.alive, "verify.health stopped instead of waiting"
        server = processes.prometheus(prometheus_bin, it.config(), port=port)
        ready_at = time.monotonic()
        done = waiting.wait(timeout=60)
    finally:
        waiting.stop()
    assert done.returncode == 0, done.output
    assert time.monotonic() - ready_at < 3.0  # noticed within about a second (+ start-up)
    assert "cannot reach Prometheus" in done.stderr  # the plain progress lines while it waited
    assert server.url in done.stdout


def test_wait_gives_up_at_the_deadline(it: Any) -> None:
    url = f"http://127.0.0.1:{it.free_port()}"
    started = time.monotonic()
    result = it.inv("verify.health", "--url", url, "--wait", "2")
    elapsed = time.monotonic() - started
    out = it.output(result)
    assert result.returncode == 2, out
    assert "cannot reach Prometheus" in out and "(gave up after waiting 2s)" in out
    assert 2.0 <= elapsed < 8.0
