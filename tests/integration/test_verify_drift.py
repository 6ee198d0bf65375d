"""verify.drift against real servers: the repo's files, and servers started otherwise.

The repo side is the repository's own prometheus.yml and rule file. Its command line
comes from a compose file of the test's own: a copy of compose/compose.yaml whose
prometheus command is the test server's (a process on this machine cannot run from
the container's /etc/prometheus). ``docker compose config`` renders it, as for a user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from promkit.core.settings import ROOT
from tests.support import PrometheusServer, request, run

pytestmark = pytest.mark.integration

CONFIG_DIR = ROOT / "src/promkit/data/config/prometheus"
RULES = "rules/sample-service.rules.yml"
REPO_CONFIG = yaml.safe_load((CONFIG_DIR / "prometheus.yml").read_text())
REPO_RULES = (CONFIG_DIR / RULES).read_text()
#: The flags compose.yaml passes beyond the paths (which the test server has its own of).
FLAGS = ["--storage.tsdb.retention.time=30d", "--web.enable-lifecycle"]


def start(
    processes: Any,
    binary: str,
    config: dict[str, Any] | None = None,
    rules: str = REPO_RULES,
    flags: list[str] = FLAGS,
) -> PrometheusServer:
    """A server running ``config`` and ``rules`` (by default the repo's) with ``flags``."""
    server: PrometheusServer = processes.prometheus(
        binary, config or REPO_CONFIG, flags=list(flags), files={RULES: rules}
    )
    return server


def settings_for(tmp_path: Path, server: PrometheusServer, flags: list[str] = FLAGS) -> Path:
    """Settings naming a compose file whose prometheus command is ``server``'s, with the
    repo's ``flags`` instead of the ones it was started with."""
    compose = yaml.safe_load((ROOT / "compose/compose.yaml").read_text())
    started = [arg for arg in server.argv()[1:] if arg.split("=")[0] not in _names(server)]
    compose["services"]["prometheus"]["command"] = [*started, *flags]
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(compose, sort_keys=False))
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"compose": {"file": str(tmp_path / "compose.yaml")}}))
    return path


def _names(server: PrometheusServer) -> set[str]:
    return {flag.split("=")[0] for flag in server.flags}


def drift(it: Any, settings: Path, server: PrometheusServer) -> tuple[int, list[str]]:
    """`inv -f SETTINGS verify.drift --url URL`: its exit code and printed lines."""
    done = it.inv("-f", str(settings), "verify.drift", "--url", server.url)
    assert "Traceback" not in done.stderr, done.output
    return done.returncode, done.stdout.splitlines()


def test_a_server_running_the_repo_files_matches(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    server = start(processes, prometheus_bin)
    code, lines = drift(it, settings_for(tmp_path, server), server)
    assert code == 0, lines
    assert lines == [
        "server matches src/promkit/data/config/prometheus/prometheus.yml, "
        f"src/promkit/data/config/prometheus/{RULES}, {tmp_path / 'compose.yaml'}"
    ]


def test_an_edited_config_is_named_key_by_key(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    config: dict[str, Any] = yaml.safe_load(yaml.safe_dump(REPO_CONFIG))
    config["scrape_configs"][1]["scrape_timeout"] = "5s"
    config["scrape_configs"][2]["static_configs"][0]["targets"] = ["worker:8002"]
    config["global"]["scrape_interval"] = "1m"  # named once, not for each job inheriting it
    config["global"]["scrape_timeout"] = "10000ms"  # the repo's 10s: no difference
    del config["scrape_configs"][0]
    server = start(processes, prometheus_bin, config)
    code, lines = drift(it, settings_for(tmp_path, server), server)
    assert code == 1, lines
    assert lines == [
        "global.scrape_interval: repo 15s, server 1m",
        "scrape_configs[prometheus]: only in the repo",
        "scrape_configs[fastapi-app].scrape_timeout: repo 10s, server 5s",
        "scrape_configs[celery-workers].static_configs[0].targets: repo [worker:8001], "
        "server [worker:8002]",
    ]


def test_an_edited_retention_flag_is_named(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    server = start(processes, prometheus_bin, flags=["--storage.tsdb.retention.time=15d"])
    # The repo passes 720h: the same 30 days as the server would serve them.
    repo_flags = ["--storage.tsdb.retention.time=720h", "--web.enable-lifecycle"]
    code, lines = drift(it, settings_for(tmp_path, server, repo_flags), server)
    assert code == 1, lines
    assert lines == [
        "--storage.tsdb.retention.time: repo 720h, server 15d",
        "--web.enable-lifecycle: repo true, server false",
    ]


def test_an_edited_rule_file_is_named_rule_by_rule(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    edited = REPO_RULES.replace("expr: up == 0", "expr: up == 1")
    start_of_queue_growing = edited.index("      - alert: QueueGrowing")
    edited = edited[:start_of_queue_growing]
    # Spelled otherwise, parsed the same: not a difference.
    edited = edited.replace("sum by (tenant_id) (rate(", "sum  by(tenant_id)(rate(")
    assert edited.count("alert:") == 3
    server = start(processes, prometheus_bin, rules=edited)
    code, lines = drift(it, settings_for(tmp_path, server), server)
    assert code == 1, lines
    assert lines[0] == (
        "groups[sample-service.alerts].alert[TargetDown].expr: repo up == 0, server up == 1"
    )
    assert lines[1].startswith(
        "groups[sample-service.alerts].alert[QueueGrowing]: only in the repo ("
        f"{CONFIG_DIR / RULES}:"
    )
    assert len(lines) == 2, lines


def test_a_failed_reload_is_named_with_the_time_of_the_config_still_running(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    server = start(processes, prometheus_bin)
    settings = settings_for(tmp_path, server)
    loaded = server.api("/api/v1/status/runtimeinfo")["lastConfigTime"]
    (server.workdir / "prometheus.yml").write_text("scrape_configs: [ {job_name: \n")
    status, said = request("POST", server.url + "/-/reload", timeout=10)
    assert status == 500, said
    code, lines = drift(it, settings, server)
    assert code == 1, lines
    assert lines == [
        "the last reload failed: the server runs an older config (its last successful load "
        f"was at {loaded})"
    ]


def test_bad_input_is_one_line_and_exit_2(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    server = start(processes, prometheus_bin)
    settings = settings_for(tmp_path, server)
    done = it.inv(
        "-f", str(settings), "verify.drift", "--url", f"http://127.0.0.1:{it.free_port()}"
    )
    assert done.returncode == 2, done.output
    assert done.stderr.startswith("promkit: cannot reach Prometheus at http://127.0.0.1:")
    assert len(done.output.strip().splitlines()) == 1, done.output
    # A broken rule file in the repo: named with its line, the server is not judged.
    repo = tmp_path / "config"
    (repo / "rules").mkdir(parents=True)
    (repo / "prometheus.yml").write_text(yaml.safe_dump(REPO_CONFIG))
    (repo / RULES).write_text(REPO_RULES.replace("expr: up == 0", "expr: up =="))
    broken = yaml.safe_load(settings.read_text())
    broken["compose"]["prometheus_config"] = str(repo / "prometheus.yml")
    settings.write_text(yaml.safe_dump(broken))
    done = it.inv("-f", str(settings), "verify.drift", "--url", server.url)
    assert done.returncode == 2, done.output
    assert done.stderr.startswith(f"promkit: rule file {repo / RULES}:"), done.output
    assert "expr does not parse" in done.stderr
    assert len(done.output.strip().splitlines()) == 1, done.output


def test_with_a_context_the_rendered_kustomization_is_the_repo_side(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    # A kubeconfig whose only context, alpha, points nowhere (nothing here asks the cluster).
    env = it.env(KUBECONFIG=str(tmp_path / "kubeconfig"))
    run(
        ["kubectl", "config", "set-cluster", "alpha", "--server=https://127.0.0.1:1"],
        env=env,
        check=True,
    )
    run(["kubectl", "config", "set-context", "alpha", "--cluster=alpha"], env=env, check=True)
    unknown = it.inv("verify.drift", "--context", "beta", env=env)
    assert unknown.returncode == 2, unknown.output
    assert unknown.stderr.startswith("promkit: Kubernetes context 'beta' is not in your kubeconfig")
    assert len(unknown.output.strip().splitlines()) == 1, unknown.output
    # --url too: the server there, held to what k8s/ renders (a compose config, here).
    server = start(processes, prometheus_bin)
    done = it.inv("verify.drift", "--context", "alpha", "--url", server.url, env=env)
    assert done.returncode == 1, done.output
    lines = done.stdout.splitlines()
    assert "scrape_configs[kubernetes-pods]: only in the repo" in lines
    assert "scrape_configs[fastapi-app]: only on the server" in lines
    assert (
        "--config.file: repo /etc/prometheus/prometheus.yml, server "
        f"{server.workdir / 'prometheus.yml'}"
    ) in lines
    assert not any(line.startswith("--storage.tsdb.retention.time") for line in lines), lines
