"""verify without --wait: it waits by itself only for a young server, and only for scrapes.

A server younger than three scrape intervals (expect.scrape_interval) whose targets are
not scraped yet is polled until green, with a line saying so; an older one, or a young
one whose configuration is wrong, fails at once.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import inv_in_background, wait_for

pytestmark = pytest.mark.integration


def both_jobs(it: Any, address: str) -> Any:
    """The two jobs verify expects (expect.jobs), both scraping ``address``."""
    return it.config(it.job("fastapi-app", address), it.job("celery-workers", address))


YOUNG_LINE = re.compile(
    r"Prometheus started (\d+)s ago: waiting for its first scrapes, up to (\d+)s"
)


@pytest.mark.slow(
    reason="what it proves is the wait: up to 3 intervals of 15s for the first scrapes"
)
def test_a_young_server_is_waited_for_until_its_first_scrapes(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    port = it.free_port()
    server = processes.prometheus(prometheus_bin, both_jobs(it, f"127.0.0.1:{port}"))
    env = {**it.env(), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    waiting = inv_in_background(tmp_path, "verify.targets", "--url", server.url, env=env)
    try:
        # The line comes only after a failed first round: verify has seen the target
        # unscraped. Only then does the target come up, for its rounds to turn green.
        errors = tmp_path / "inv.err"

        def young_line() -> re.Match[str] | None:
            said = errors.read_text(errors="replace")
            found = YOUNG_LINE.search(said)
            assert found or waiting.alive, f"verify ended without waiting:\n{waiting.log()}{said}"
            return found

        found = wait_for("verify's young-server line", young_line, timeout=30)
        processes.exporter("app", port=port)
        done = waiting.wait(timeout=45 + 10)
    finally:
        waiting.stop()
    out = done.output
    assert done.returncode == 0, out
    assert int(found.group(1)) < 45 and found.group(2) == "45", found.group(0)
    assert "waiting (" in done.stderr, "the progress line shows while it waits"
    assert time.monotonic() - started < 45 + 10


def test_an_older_server_fails_at_once(processes: Any, prometheus_bin: str, it: Any) -> None:
    server = processes.prometheus(
        prometheus_bin,
        it.config(
            it.job("fastapi-app", f"127.0.0.1:{it.free_port()}"),
            it.job("celery-workers", f"127.0.0.1:{it.free_port()}"),
            scrape="1s",
        ),
    )
    # Older than 3 intervals of 1s, with its targets discovered (about 5s after a start).
    wait_for("its targets discovered", server.targets, 30, every=0.5)
    time.sleep(3.5)
    env = {**it.env(), "INVOKE_EXPECT_SCRAPE_INTERVAL": "1s"}
    started = time.monotonic()
    done = it.inv("verify.targets", "--url", server.url, env=env)
    elapsed = time.monotonic() - started
    out = it.output(done)
    assert done.returncode == 1, out
    assert "is DOWN" in out
    assert "waiting" not in out, "an old server is not waited for"
    assert elapsed < 10, f"took {elapsed:.1f}s"


def test_a_young_server_with_the_wrong_retention_fails_at_once(
    processes: Any, prometheus_bin: str, it: Any
) -> None:
    server = processes.prometheus(
        prometheus_bin, it.config(), flags=["--storage.tsdb.retention.time=15d"]
    )
    started = time.monotonic()
    done = it.inv("verify.retention", "--url", server.url)
    out = it.output(done)
    assert done.returncode == 1, out
    assert "retention is 15d, expected 30d" in out
    assert "waiting" not in out, "waiting cannot fix a flag"
    assert time.monotonic() - started < 10


def test_wait_overrides_the_young_server_rule(processes: Any, prometheus_bin: str, it: Any) -> None:
    port = it.free_port()
    server = processes.prometheus(prometheus_bin, both_jobs(it, f"127.0.0.1:{port}"))
    done = it.inv("verify.targets", "--url", server.url, "--wait", "2")
    out = it.output(done)
    assert done.returncode == 1, out
    assert not YOUNG_LINE.search(out), "--wait decides how long, not the server's age"
    assert "waiting (" in out and "checks pass" in out
