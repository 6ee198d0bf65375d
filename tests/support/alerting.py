"""The alerting chain on real processes: the alert sink, Alertmanager peers, and the
Prometheus that sends to them, each on loopback ports of its own.

The binaries: ``PROMKIT_ALERTMANAGER_BIN`` (default scripts/build-alertmanager.sh's build)
and ``PROMKIT_PROMETHEUS3_BIN`` (a 3.x build).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.poll import wait_for
from tests.support.ports import free_port
from tests.support.processes import ROOT, Background
from tests.support.prometheus import PROMETHEUS3_BUILD, PrometheusServer, require_binary
from tests.support.web import get

ALERTMANAGER_BUILD = "/var/cache/promkit/alertmanager-0.35.0/alertmanager"
REPO_CONFIG = ROOT / "config" / "alertmanager" / "alertmanager.yml"
REPO_RULES = sorted((ROOT / "config" / "prometheus" / "rules").glob("*.rules.yml"))
#: Where the repo's receivers post: the sink's default address.
REPO_SINK = "http://alert-sink:9095"
#: The chain's Prometheus scrapes and evaluates its rules this often (seconds).
EVALUATION_S = 2


def alertmanager_binary() -> str:
    path = os.environ.get("PROMKIT_ALERTMANAGER_BIN", ALERTMANAGER_BUILD)
    return require_binary(path, "build it with scripts/build-alertmanager.sh")


def prometheus3_binary() -> str:
    path = os.environ.get("PROMKIT_PROMETHEUS3_BIN", PROMETHEUS3_BUILD)
    return require_binary(path, "build it with scripts/build-prometheus3.sh")


def repo_config(sink_url: str, edit: Callable[[dict[str, Any]], None] | None = None) -> str:
    """The repo's alertmanager.yml, its receivers posting to ``sink_url``; ``edit`` may
    change it further (a wrong route, say)."""
    config = yaml.safe_load(REPO_CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = hook["url"].replace(REPO_SINK, sink_url)
    if edit is not None:
        edit(config)
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class LoopbackProcess:
    """A program serving HTTP on a free loopback port, in a folder of its own."""

    port: int = field(default_factory=free_port, kw_only=True)
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="promkit-alerting-")), kw_only=True
    )
    process: Background | None = field(default=None, kw_only=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self, argv: list[str], probe: str, timeout: float = 30) -> None:
        """Start ``argv`` (its output in the folder) and wait until ``probe`` answers 200."""
        self.process = Background(argv, self.workdir / "output.log", cwd=ROOT).start()
        wait_for(f"{self.url}{probe} answering", lambda: self._answers(probe), timeout)

    def _answers(self, probe: str) -> bool:
        assert self.process is not None and self.process.alive, self.log()
        try:
            return get(self.url + probe, timeout=1).status_code == 200
        except OSError:
            return False

    def json(self, path: str) -> Any:
        answer = get(self.url + path, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def log(self) -> str:
        return self.process.log()[-3000:] if self.process else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(10)
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class AlertSink(LoopbackProcess):
    """sample_app/alert_sink.py on a free port (``fail_for``: answering 500 that long)."""

    fail_for: float = 0.0

    def start(self) -> AlertSink:
        argv = [sys.executable, "-m", "sample_app.alert_sink", "--port", str(self.port)]
        self.launch([*argv, "--fail-for", str(self.fail_for)], "/health", 15)
        return self

    def notifications(self) -> dict[str, Any]:
        found: dict[str, Any] = self.json("/notifications")
        return found


@dataclass
class Alertmanager(LoopbackProcess):
    """A real Alertmanager on free web and cluster ports, joining ``peers`` (cluster ports)."""

    config: str = ""
    peers: list[int] = field(default_factory=list)
    cluster_port: int = field(default_factory=free_port)

    def argv(self) -> list[str]:
        config_file = self.workdir / "alertmanager.yml"
        config_file.write_text(self.config)
        return [
            alertmanager_binary(),
            f"--config.file={config_file}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
            *(f"--cluster.peer=127.0.0.1:{peer}" for peer in self.peers),
            # Gossip at loopback pace: peers find each other and settle in seconds.
            "--cluster.settle-timeout=2s",
            "--cluster.gossip-interval=100ms",
            "--cluster.pushpull-interval=2s",
            "--log.level=warn",
        ]

    def start(self) -> Alertmanager:
        self.launch(self.argv(), "/-/ready")
        return self

    def status(self) -> dict[str, Any]:
        found: dict[str, Any] = self.json("/api/v2/status")
        return found


@dataclass
class AlertChain:
    """The sink, two clustered Alertmanagers, and Prometheus 3 with the repo's rules sending
    to both (evaluating every 2s, resending every 5s)."""

    sink: AlertSink
    managers: list[Alertmanager]
    prometheus: PrometheusServer

    @classmethod
    def start(
        cls,
        sink: AlertSink,
        edit: Callable[[dict[str, Any]], None] | None = None,
        *,
        with_prometheus: bool = True,
    ) -> AlertChain:
        """Start the sink and the clustered peers, then (unless ``with_prometheus`` is
        false: the caller starts ``chain.prometheus`` itself) Prometheus."""
        chain = cls(sink, [], PrometheusServer(prometheus3_binary(), {}))
        try:
            sink.start()
            config = repo_config(sink.url, edit)
            first = Alertmanager(config).start()
            chain.managers.append(first)
            chain.managers.append(Alertmanager(config, peers=[first.cluster_port]).start())
            wait_for("the Alertmanager cluster formed", chain._clustered, 30)
            chain.prometheus.config = chain._prometheus_config()
            chain.prometheus.files = {f"rules/{p.name}": p.read_text() for p in REPO_RULES}
            chain.prometheus.flags = ["--rules.alert.resend-delay=5s"]
            if with_prometheus:
                chain.prometheus.start()
        except BaseException:
            print(chain.logs())
            chain.stop()
            raise
        return chain

    def _clustered(self) -> bool:
        return all(len(m.status()["cluster"].get("peers") or []) == 2 for m in self.managers)

    def _prometheus_config(self) -> dict[str, Any]:
        targets = [f"127.0.0.1:{m.port}" for m in self.managers]
        return {
            "global": {
                "scrape_interval": f"{EVALUATION_S}s",
                "evaluation_interval": f"{EVALUATION_S}s",
            },
            "rule_files": ["rules/*.rules.yml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": targets}]}]},
            "scrape_configs": [],
        }

    def logs(self) -> str:
        parts = [f"--- sink\n{self.sink.log()}", f"--- prometheus\n{self.prometheus.log()}"]
        parts += [f"--- alertmanager {m.url}\n{m.log()}" for m in self.managers]
        return "\n".join(parts)

    def stop(self) -> None:
        self.prometheus.stop()
        for manager in reversed(self.managers):
            manager.stop()
        self.sink.stop()
