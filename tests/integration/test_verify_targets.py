"""Target scenarios: a target down, a job missing, a slow target (1s scrapes: fast to set up)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.integration

#: The exporter's delay (seconds) before each answer of the slow target.
SLOW_DELAY_S = 0.15


def scraped(processes: Any, binary: str, it: Any, *jobs: dict[str, Any]) -> Any:
    return processes.prometheus(
        binary, it.config(*jobs, scrape="1s", evaluation="1s"), scraped=True
    )


def test_a_target_down(processes: Any, prometheus_bin: str, it: Any) -> None:
    app, worker = processes.exporter("app"), processes.exporter("worker")
    dead = f"127.0.0.1:{it.free_port()}"
    server = scraped(
        processes,
        prometheus_bin,
        it,
        it.job("fastapi-app", app.address),
        it.job("celery-workers", worker.address, dead),
    )
    result = it.inv("verify.targets", "--url", server.url)
    out = it.output(result)
    assert result.returncode == 1, out
    assert f"target celery-workers/{dead} is DOWN: " in out and "connection refused" in out
    assert f"celery-workers {worker.address} up " in out
    assert "job celery-workers has 2 active targets" in out


def test_a_job_missing(processes: Any, prometheus_bin: str, it: Any) -> None:
    app = processes.exporter("app")
    server = scraped(processes, prometheus_bin, it, it.job("fastapi-app", app.address))
    result = it.inv("verify.targets", "--url", server.url)
    out = it.output(result)
    assert result.returncode == 1, out
    assert (
        "job celery-workers has 0 active targets: job celery-workers is not in Prometheus' "
        "configuration (its scrape jobs: fastapi-app)"
    ) in out
    assert f"fastapi-app {app.address} up " in out


def test_a_slow_target(processes: Any, prometheus_bin: str, it: Any) -> None:
    app, worker = processes.exporter("app", delay=SLOW_DELAY_S), processes.exporter("worker")
    server = scraped(
        processes,
        prometheus_bin,
        it,
        it.job("fastapi-app", app.address),
        it.job("celery-workers", worker.address),
    )
    result = it.inv("verify.targets", "--url", server.url)
    out = it.output(result)
    assert result.returncode == 1, out
    slow = re.search(
        rf"target fastapi-app/{re.escape(app.address)} is SLOW: "
        r"scrape took (\d+\.\d)ms, budget 100ms",
        out,
    )
    assert slow, out
    # Every scrape waits out the exporter's delay, so the figure is at least that, whatever
    # the load (no upper bound: a busy machine only makes a scrape slower).
    took_ms = float(slow.group(1))
    assert took_ms > 100 and took_ms >= SLOW_DELAY_S * 1000, slow.group(0)
    # The figure is Prometheus' own: its targets API says as much of the target's last scrape
    # (a later scrape than verify read, at 1s intervals: the same bound, not the same value).
    (target,) = [t for t in server.targets() if t["labels"]["job"] == "fastapi-app"]
    assert target["lastScrapeDuration"] >= SLOW_DELAY_S, target
    assert f"celery-workers {worker.address} up " in out


def test_exact_count_from_a_settings_file(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Any
) -> None:
    app, worker = processes.exporter("app"), processes.exporter("worker")
    server = scraped(
        processes,
        prometheus_bin,
        it,
        it.job("fastapi-app", app.address),
        it.job("celery-workers", worker.address),
    )
    settings = tmp_path / "exact.yaml"
    # "=2": an exact count (one target per replica) that can override the default count;
    # null: a default job that is not expected here.
    settings.write_text("expect:\n  jobs:\n    fastapi-app: '=2'\n    celery-workers: null\n")
    result = it.inv("-f", str(settings), "verify.targets", "--url", server.url)
    out = it.output(result)
    assert result.returncode == 1, out
    assert "job fastapi-app has 1 active targets, expected exactly 2 (one per replica)" in out
    assert "job celery-workers" not in out
