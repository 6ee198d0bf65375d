"""The sample app's real processes on loopback, for tests: redis-server, uvicorn, Celery.

Every process is a ``Background`` (a session of its own, stopped by its own pid);
``SampleStack.stop_all`` is safe to call twice.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.poll import wait_for
from tests.support.ports import free_port
from tests.support.processes import ROOT, Background, run
from tests.support.web import request

REDIS_SERVER = os.environ.get("PROMKIT_REDIS_SERVER", "/usr/bin/redis-server")
REDIS_CLI = os.environ.get("PROMKIT_REDIS_CLI", "/usr/bin/redis-cli")
QUEUE = "enhancement:queue"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(metrics_text: str) -> Samples:
    """Every sample of an exposition as {(name, labels): value}."""
    found = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    found: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return found.get((name, frozenset(labels.items())))


class SampleStack:
    """Redis, the web app and the worker of sample_app, each on a free loopback port."""

    def __init__(self, **env: str) -> None:
        for binary in (REDIS_SERVER, REDIS_CLI):
            if not shutil.which(binary):
                raise RuntimeError(f"{binary} not found: install Debian's redis-server package")
        self.tmp = Path(tempfile.mkdtemp(prefix="promkit-sample-"))
        self.redis_port = free_port()
        self.app_port = free_port()
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "WORKER_METRICS_PORT": str(self.metrics_port),
            "WORKER_METRICS_ADDR": "127.0.0.1",
            "SAMPLE_APP_REDIS_TIMEOUT": "0.5",
            "SAMPLE_APP_LATENCY_SCALE": "0.05",
            **env,
        }
        self.processes: dict[str, Background] = {}

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def worker_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _start(self, name: str, argv: list[str]) -> Background:
        process = Background(argv, self.tmp / f"{name}.log", env=self.env, cwd=ROOT)
        self.processes[name] = process.start()
        return process

    def start_redis(self) -> None:
        argv = [
            REDIS_SERVER,
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.tmp),
        ]
        process = self._start("redis", argv)
        wait_for(
            "redis to answer PING",
            lambda: process.alive and self.redis_cli("PING") == "PONG",
            timeout=10,
        )

    def start_app(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "sample_app.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.app_port),
            "--log-level",
            "warning",
        ]
        process = self._start("app", argv)
        wait_for(
            "the app's /health",
            lambda: (
                self._check_alive("app", process)
                and request("GET", f"{self.app_url}/health", timeout=1)[0] == 200
            ),
            timeout=20,
        )

    def spawn_worker(self, concurrency: int = 2) -> Background:
        """Start the Celery worker (threads pool) without waiting for it."""
        argv = [
            sys.executable,
            "-m",
            "celery",
            "--app=sample_app.worker",
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            f"--queues={QUEUE}",
            "--loglevel=INFO",
            f"--hostname=sample-{self.metrics_port}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        return self._start("worker", argv)

    def start_worker(self, concurrency: int = 2) -> None:
        process = self.spawn_worker(concurrency)
        wait_for(
            "the worker to be ready",
            lambda: self._check_alive("worker", process) and " ready." in process.log(),
            timeout=30,
        )
        wait_for(
            "the worker's /metrics",
            lambda: request("GET", self.worker_metrics_url, timeout=1)[0] == 200,
            timeout=20,
        )

    def _check_alive(self, name: str, process: Background) -> bool:
        if not process.alive:
            raise AssertionError(f"{name} exited {process.exit_code}:\n{process.log()}")
        return True

    def stop(self, name: str) -> None:
        if name in self.processes:
            self.processes.pop(name).stop()

    def stop_all(self) -> None:
        for name in ("worker", "app", "redis"):
            self.stop(name)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def redis_cli(self, *args: str) -> str:
        argv = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.redis_port), *args]
        return run(argv, timeout=5).stdout.strip()

    def llen(self) -> int:
        return int(self.redis_cli("LLEN", QUEUE))

    def app_metrics(self) -> Samples:
        status, text = request("GET", f"{self.app_url}/metrics")
        assert status == 200, f"app /metrics answered {status}: {text}"
        return samples(text)

    def worker_metrics(self) -> Samples:
        status, text = request("GET", self.worker_metrics_url)
        assert status == 200, f"worker /metrics answered {status}: {text}"
        return samples(text)

    def post_ticket(self, body: Any, timeout: float = 5.0) -> tuple[int, Any]:
        return request("POST", f"{self.app_url}/webhook/servicedesk", body, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{p.log()[-3000:]}" for name, p in self.processes.items())
