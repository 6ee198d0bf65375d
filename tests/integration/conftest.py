"""Real Prometheus servers scraping real exporter processes, for the verify tests.

The Prometheus binary comes from ``PROMKIT_PROMETHEUS_BIN`` (default Debian's
``/usr/bin/prometheus``); when ``PROMKIT_PROMETHEUS3_BIN`` names a 3.x build,
every server-backed test runs against both. A missing binary fails the tests
with a clear message: they are never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXPORTER = HERE / "exporter.py"


def prometheus_binaries() -> list[tuple[str, str]]:
    """(label, path) of every Prometheus binary to test against."""
    found = [("prometheus2", os.environ.get("PROMKIT_PROMETHEUS_BIN", "/usr/bin/prometheus"))]
    if os.environ.get("PROMKIT_PROMETHEUS3_BIN"):
        found.append(("prometheus3", os.environ["PROMKIT_PROMETHEUS3_BIN"]))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(
    url: str, auth: tuple[str, str] | None = None, timeout: float = 2.0
) -> tuple[int, bytes]:
    """Status and body of a GET (any status), for fixtures waiting on a server."""
    request = urllib.request.Request(url)
    if auth:
        import base64

        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Exporter:
    """A running exporter process (tests/integration/exporter.py)."""

    def __init__(self, kind: str = "plain", delay: float = 0.0, port: int = 0) -> None:
        argv = [sys.executable, str(EXPORTER), "--kind", kind, "--delay", str(delay)]
        argv += ["--port", str(port)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"exporter did not start: {line!r}")
        self.address = line.removeprefix("listening on ")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@dataclass
class PrometheusServer:
    """A real Prometheus process on a free loopback port with its own TSDB."""

    binary: str
    config: Mapping[str, Any]
    flags: list[str] = field(default_factory=list)
    web_config: Mapping[str, Any] | None = None
    auth: tuple[str, str] | None = None
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="promkit-it-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(dict(self.config), sort_keys=False))
        argv = [
            self.binary,
            f"--config.file={config_file}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            "--log.level=warn",
            *self.flags,
        ]
        if self.web_config is not None:
            web_file = self.workdir / "web.yml"
            web_file.write_text(yaml.safe_dump(dict(self.web_config)))
            argv.append(f"--web.config.file={web_file}")
        return argv

    def start(self, wait_ready: bool = True) -> PrometheusServer:
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            pytest.fail(
                f"Prometheus binary {self.binary} not found: install Debian's prometheus package "
                "(apt-get install prometheus) or set PROMKIT_PROMETHEUS_BIN",
                pytrace=False,
            )
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait_ready:
            self.wait_ready()
        return self

    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"Prometheus exited early:\n{self.log()}")
            try:
                if http_get(self.url + "/-/ready", self.auth)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Prometheus at {self.url} not ready after {timeout}s:\n{self.log()}")

    def api(self, path: str) -> Any:
        status, body = http_get(self.url + path, self.auth)
        assert status == 200, (path, status, body[:200])
        return json.loads(body)["data"]

    def wait_scraped(self, timeout: float = 40.0, scrapes: int = 1) -> None:
        """Wait until every active target has been scraped ``scrapes`` times (by its job's up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            targets = self.api("/api/v1/targets?state=active")["activeTargets"]
            scraped = targets and all(t["health"] != "unknown" for t in targets)
            if scraped and (scrapes <= 1 or self._samples_of_up() >= scrapes):
                return
            time.sleep(0.2)
        raise RuntimeError(f"targets of {self.url} not scraped within {timeout}s")

    def _samples_of_up(self) -> int:
        from urllib.parse import quote

        data = self.api("/api/v1/query?query=" + quote("min(count_over_time(up[10m]))"))
        result = data["result"]
        return int(float(result[0]["value"][1])) if result else 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def scrape_config(job: str, *addresses: str, **extra: Any) -> dict[str, Any]:
    return {"job_name": job, "static_configs": [{"targets": list(addresses)}], **extra}


def config(*jobs: dict[str, Any], scrape: str = "15s", evaluation: str = "15s") -> dict[str, Any]:
    return {
        "global": {"scrape_interval": scrape, "evaluation_interval": evaluation},
        "scrape_configs": list(jobs),
    }


@pytest.fixture(scope="session", params=prometheus_binaries(), ids=lambda p: p[0])
def prometheus_bin(request: pytest.FixtureRequest) -> str:
    """The path of each Prometheus binary under test (2.x always, 3.x when configured)."""
    return str(request.param[1])


class Processes:
    """Starts exporters and Prometheus servers; stops all of them at the end of the scope."""

    def __init__(self) -> None:
        self.started: list[Exporter | PrometheusServer] = []

    def exporter(self, kind: str = "plain", delay: float = 0.0, port: int = 0) -> Exporter:
        exporter = Exporter(kind, delay, port)
        self.started.append(exporter)
        return exporter

    def prometheus(
        self, binary: str, config: Mapping[str, Any], *, scraped: bool = False, **options: Any
    ) -> PrometheusServer:
        """A ready server; with ``scraped``, also wait until each target was scraped once."""
        server = PrometheusServer(binary, config, **options)
        self.started.append(server)
        server.start()
        if scraped:
            server.wait_scraped()
        return server

    def stop_all(self) -> None:
        for thing in reversed(self.started):
            thing.stop()
        self.started.clear()


@pytest.fixture(scope="module")
def module_processes() -> Iterator[Processes]:
    """Processes shared by the tests of one module (a slow-to-warm server, say)."""
    processes = Processes()
    yield processes
    processes.stop_all()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Processes for one test."""
    processes = Processes()
    yield processes
    processes.stop_all()


class Helpers:
    """What the tests share, handed out by the ``it`` fixture (no imports from conftest)."""

    root = ROOT
    free_port = staticmethod(free_port)
    config = staticmethod(config)
    job = staticmethod(scrape_config)
    http_get = staticmethod(http_get)

    @staticmethod
    def env(**extra: str) -> dict[str, str]:
        """The environment for a promkit run: no stray credentials or INVOKE_ settings."""
        prefixes = ("PROMKIT_PROMETHEUS_", "INVOKE_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        env.update(extra)
        return env

    @classmethod
    def inv(
        cls, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Run ``inv ARGS`` the way a user does, from the repository root."""
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=ROOT,
            env=dict(env) if env is not None else cls.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    @staticmethod
    def output(result: subprocess.CompletedProcess[str]) -> str:
        return result.stdout + result.stderr


@pytest.fixture(scope="session")
def it() -> type[Helpers]:
    """Helpers for integration tests: config builders, ``inv`` runner, free ports."""
    return Helpers
