"""Configuration scenarios: interval 30s, a job overriding the interval, retention 15d."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_interval_30s_in_config(processes: Any, prometheus_bin: str, it: Any) -> None:
    server = processes.prometheus(
        prometheus_bin, it.config(it.job("fastapi-app", "127.0.0.1:8000"), scrape="30s")
    )
    result = it.inv("verify.interval", "--url", server.url)
    out = it.output(result)
    assert result.returncode == 1, out
    assert "global scrape_interval is 30s, expected 15s: set global.scrape_interval" in out
    assert "global evaluation_interval is 15s" in out


def test_a_job_overriding_the_interval(processes: Any, prometheus_bin: str, it: Any) -> None:
    server = processes.prometheus(
        prometheus_bin,
        it.config(
            it.job("fastapi-app", "127.0.0.1:8000"),
            it.job("celery-workers", "127.0.0.1:8001", scrape_interval="30s"),
        ),
    )
    result = it.inv("verify.interval", "--url", server.url)
    out = it.output(result)
    assert result.returncode == 1, out
    assert "job celery-workers overrides the scrape interval: 30s instead of 15s" in out
    assert "jobs scraped every 15s: fastapi-app" in out


def test_retention_15d(processes: Any, prometheus_bin: str, it: Any) -> None:
    server = processes.prometheus(
        prometheus_bin,
        it.config(),
        flags=["--storage.tsdb.retention.time=15d", "--storage.tsdb.retention.size=2GB"],
    )
    result = it.inv("verify.retention", "--url", server.url)
    out = it.output(result)
    assert result.returncode == 1, out
    assert "retention is 15d, expected 30d: set --storage.tsdb.retention.time=30d" in out
    assert "size limit 2GiB" in out


def test_interval_and_retention_as_expected(processes: Any, prometheus_bin: str, it: Any) -> None:
    server = processes.prometheus(
        prometheus_bin,
        it.config(it.job("fastapi-app", "127.0.0.1:8000")),
        flags=["--storage.tsdb.retention.time=30d"],
    )
    for task in ("verify.interval", "verify.retention"):
        result = it.inv(task, "--url", server.url)
        assert result.returncode == 0, it.output(result)
