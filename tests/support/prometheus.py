"""Real Prometheus servers (2.x and 3.x binaries) and real exporters on loopback ports.

The binaries: ``PROMKIT_PROMETHEUS_BIN`` (default Debian's ``/usr/bin/prometheus``)
and, when set, ``PROMKIT_PROMETHEUS3_BIN`` (a 3.x build).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.poll import wait_for
from tests.support.ports import free_port
from tests.support.processes import Background
from tests.support.web import Auth, active_targets, api_data, get

EXPORTER = Path(__file__).resolve().parent / "exporter.py"
PROMETHEUS2 = "/usr/bin/prometheus"
PROMETHEUS3_BUILD = "/var/cache/promkit/prometheus-3.16.0-ui/prometheus"


class MissingBinary(RuntimeError):
    """A program the test needs is not installed; the message says how to get it."""


def prometheus_binaries() -> list[tuple[str, str]]:
    """(label, path) of every Prometheus binary to test against: 2.x always, 3.x when set."""
    found = [("prometheus2", os.environ.get("PROMKIT_PROMETHEUS_BIN", PROMETHEUS2))]
    if os.environ.get("PROMKIT_PROMETHEUS3_BIN"):
        found.append(("prometheus3", os.environ["PROMKIT_PROMETHEUS3_BIN"]))
    return found


def require_binary(path: str, hint: str) -> str:
    """``path`` if it is an executable file, else MissingBinary naming ``hint``."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise MissingBinary(f"{path} not found: {hint}")
    return path


def scrape_config(job: str, *addresses: str, **extra: Any) -> dict[str, Any]:
    """One job scraping ``addresses`` (static targets), with ``extra`` job settings."""
    return {"job_name": job, "static_configs": [{"targets": list(addresses)}], **extra}


def config(*jobs: dict[str, Any], scrape: str = "15s", evaluation: str = "15s") -> dict[str, Any]:
    """A prometheus.yml with these jobs and global intervals."""
    return {
        "global": {"scrape_interval": scrape, "evaluation_interval": evaluation},
        "scrape_configs": list(jobs),
    }


class Exporter:
    """A running tests/support/exporter.py on 127.0.0.1 (``port`` 0: a free one)."""

    def __init__(
        self, kind: str = "plain", delay: float = 0.0, port: int = 0, content_type: str = ""
    ) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="promkit-exporter-"))
        argv = [sys.executable, str(EXPORTER), "--kind", kind, "--delay", str(delay)]
        argv += ["--content-type", content_type] if content_type else []
        self.process = Background([*argv, "--port", str(port)], self.workdir / "exporter.log")
        self.process.start()
        try:
            self.address = wait_for(f"exporter {kind} listening", self._listening, 15)
        except BaseException:
            self.stop()
            raise

    def _listening(self) -> str | None:
        for line in self.process.log().splitlines():
            if line.startswith("listening on "):
                return line.removeprefix("listening on ")
        if not self.process.alive:
            raise RuntimeError(f"exporter exited {self.process.exit_code}: {self.process.log()}")
        return None

    def stop(self) -> None:
        self.process.stop(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class PrometheusServer:
    """A real Prometheus process on a free loopback port with its own TSDB."""

    binary: str
    config: Mapping[str, Any]
    flags: list[str] = field(default_factory=list)
    web_config: Mapping[str, Any] | None = None
    auth: Auth | None = None
    #: Further files (rule files, say) by path relative to the config's folder: their text.
    files: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="promkit-prom-")))
    process: Background | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(dict(self.config), sort_keys=False))
        for relative, text in self.files.items():
            (self.workdir / relative).parent.mkdir(parents=True, exist_ok=True)
            (self.workdir / relative).write_text(text)
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

    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> PrometheusServer:
        """Start it (MissingBinary when the binary is not there); by default, once ready."""
        hint = "install Debian's prometheus package or set PROMKIT_PROMETHEUS_BIN"
        require_binary(self.binary, hint)
        self.process = Background(self.argv(), self.workdir / "prometheus.log").start()
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def log(self) -> str:
        return self.process.log()[-3000:] if self.process else ""

    def _ready(self) -> bool:
        if self.process is None or not self.process.alive:
            raise RuntimeError(f"Prometheus exited early:\n{self.log()}")
        return get(self.url + "/-/ready", auth=self.auth, timeout=2).status_code == 200

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_for(f"Prometheus at {self.url} ready", self._ready, timeout)

    def api(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The ``data`` of an API answer (AssertionError unless 200)."""
        return api_data(self.url, path, params, auth=self.auth)

    def targets(self) -> list[dict[str, Any]]:
        return active_targets(self.url, self.auth)

    def wait_scraped(self, timeout: float = 40.0, scrapes: int = 1) -> None:
        """Wait until every active target has been scraped ``scrapes`` times (by its up)."""

        def scraped() -> bool:
            targets = self.targets()
            done = bool(targets) and all(t["health"] != "unknown" for t in targets)
            return done and (scrapes <= 1 or self._samples_of_up() >= scrapes)

        wait_for(f"targets of {self.url} scraped {scrapes}x", scraped, timeout, every=0.2)

    def _samples_of_up(self) -> int:
        result = self.api("/api/v1/query", {"query": "min(count_over_time(up[10m]))"})["result"]
        return int(float(result[0]["value"][1])) if result else 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(15)
        shutil.rmtree(self.workdir, ignore_errors=True)


class Processes:
    """Starts exporters and Prometheus servers; ``stop_all`` stops every one, last first."""

    def __init__(self) -> None:
        self.started: list[Exporter | PrometheusServer] = []

    def exporter(
        self, kind: str = "plain", delay: float = 0.0, port: int = 0, content_type: str = ""
    ) -> Exporter:
        exporter = Exporter(kind, delay, port, content_type)
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
