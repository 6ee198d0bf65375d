"""--wait: a server that is not there yet is waited for; one that never comes says so."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_wait_until_prometheus_starts(processes: Any, prometheus_bin: str, it: Any) -> None:
    port = it.free_port()
    url = f"http://127.0.0.1:{port}"
    waiting = subprocess.Popen(
        [sys.executable, "-m", "invoke", "verify.health", "--url", url, "--wait", "60"],
        cwd=it.root,
        env=it.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        assert waiting.poll() is None, "verify.health stopped instead of waiting"
        server = processes.prometheus(
            prometheus_bin,
            it.config(),
            port=port,
        )
        ready_at = time.monotonic()
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 0, out + err
    assert time.monotonic() - ready_at < 3.0  # noticed within about a second (+ start-up)
    assert "cannot reach Prometheus" in err  # the plain progress lines while it waited
    assert server.url in out


def test_wait_gives_up_at_the_deadline(it: Any) -> None:
    url = f"http://127.0.0.1:{it.free_port()}"
    started = time.monotonic()
    result = it.inv("verify.health", "--url", url, "--wait", "2")
    elapsed = time.monotonic() - started
    out = it.output(result)
    assert result.returncode == 2, out
    assert "cannot reach Prometheus" in out and "(gave up after waiting 2s)" in out
    assert 2.0 <= elapsed < 8.0
