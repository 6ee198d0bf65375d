"""The sample app's real processes on loopback, for tests: redis-server, uvicorn, Celery.

Every process is started in its own session and stopped by its own pid (TERM,
then KILL after a grace period); ``SampleStack.stop_all`` is safe to call twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = os.environ.get("PROMKIT_REDIS_SERVER", "/usr/bin/redis-server")
REDIS_CLI = os.environ.get("PROMKIT_REDIS_CLI", "/usr/bin/redis-cli")
QUEUE = "enhancement:queue"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll ``probe`` (every 50ms) until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def http(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    """Status and decoded body (JSON when it parses, else text) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def samples(metrics_text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
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


class Process:
    """One subprocess with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], logdir: Path) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """TERM, then KILL after ``grace`` seconds; only this process's own pid."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._log.close()


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
        self.processes: dict[str, Process] = {}

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def worker_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _start(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.env, self.tmp)
        self.processes[name] = process
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
            lambda: process.alive() and self.redis_cli("PING") == "PONG",
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
                self._check_alive(process)
                and http("GET", f"{self.app_url}/health", timeout=1)[0] == 200
            ),
        )

    def spawn_worker(self, concurrency: int = 2) -> Process:
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
            lambda: self._check_alive(process) and " ready." in process.log(),
            timeout=30,
        )
        wait_for(
            "the worker's /metrics",
            lambda: http("GET", self.worker_metrics_url, timeout=1)[0] == 200,
        )

    def _check_alive(self, process: Process) -> bool:
        if not process.alive():
            raise AssertionError(
                f"{process.name} exited {process.popen.returncode}:\n{process.log()}"
            )
        return True

    def stop(self, name: str) -> None:
        if name in self.processes:
            self.processes.pop(name).stop()

    def stop_all(self) -> None:
        for name in ("worker", "app", "redis"):
            self.stop(name)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def redis_cli(self, *args: str) -> str:
        completed = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.redis_port), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return completed.stdout.strip()

    def llen(self) -> int:
        return int(self.redis_cli("LLEN", QUEUE))

    def app_metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, text = http("GET", f"{self.app_url}/metrics")
        assert status == 200, f"app /metrics answered {status}: {text}"
        return samples(text)

    def worker_metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, text = http("GET", self.worker_metrics_url)
        assert status == 200, f"worker /metrics answered {status}: {text}"
        return samples(text)

    def post_ticket(self, body: Any, timeout: float = 5.0) -> tuple[int, Any]:
        return http("POST", f"{self.app_url}/webhook/servicedesk", body, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in self.processes.values())
