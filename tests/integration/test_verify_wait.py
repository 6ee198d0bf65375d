"""--wait: a server that is not there yet is waited for; one that never comes says so."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import inv_in_background, wait_for

pytestmark = pytest.mark.integration


def test_wait_until_prometheus_starts(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    port = it.free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("verify.health", "--url", url, "--wait", "60")
    waiting = inv_in_background(tmp_path, *args, env=it.env())
    try:
        # Its progress line says it found nothing listening, and it is still waiting.
        errors = tmp_path / "inv.err"
        wait_for(
            "verify.health's first 'cannot reach' progress line",
            lambda: "cannot reach Prometheus" in errors.read_text(errors="replace") or None,
            timeout=30,
        )
        assert waiting.alive, "verify.health stopped instead of waiting"
        server = processes.prometheus(prometheus_bin, it.config(), port=port)
        done = waiting.wait(timeout=50)  # before its 60s deadline: it noticed the server
    finally:
        waiting.stop()
    assert done.returncode == 0, done.output
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
