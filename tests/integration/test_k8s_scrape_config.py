"""prometheus-k8s.yml's kubernetes-pods relabelling, run by a real Prometheus.

No cluster is needed: the job's relabel_configs are used unchanged, but fed by
file_sd with the labels Prometheus' `role: pod` discovery produces (one target per
declared container port, one per container without ports, init containers too).
The targets API then shows what Prometheus really keeps: one target per running,
opted-in pod replica, on the annotated port, with namespace, pod and app labels.
Every address is on loopback; the scrape interval is long, so they are hardly scraped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from promkit.core.settings import ROOT
from tests.support import PrometheusServer, wait_for
from tests.support.prometheus import PROMETHEUS2, PROMETHEUS3_BUILD

pytestmark = pytest.mark.integration

CONFIG = ROOT / "config/prometheus/prometheus-k8s.yml"
PROMETHEUS_CANDIDATES = (PROMETHEUS3_BUILD, PROMETHEUS2)


def prometheus_binary() -> str:
    """PROMKIT_PROMETHEUS_BIN, else the Prometheus 3 build, else Debian's (2.42 has keepequal)."""
    configured = os.environ.get("PROMKIT_PROMETHEUS_BIN")
    found = configured or next((p for p in PROMETHEUS_CANDIDATES if Path(p).is_file()), None)
    assert found, "no Prometheus binary: install Debian's prometheus or set PROMKIT_PROMETHEUS_BIN"
    return found


def container_targets(pod: dict[str, Any], containers: list[dict[str, Any]]) -> list[Any]:
    """What `role: pod` discovery yields for one pod: a target group per container port."""
    groups = []
    for container in containers:
        base = {
            **pod,
            "__meta_kubernetes_pod_container_name": container["name"],
            "__meta_kubernetes_pod_container_init": str(container.get("init", False)).lower(),
        }
        ip = pod["__meta_kubernetes_pod_ip"]
        host = f"[{ip}]" if ":" in ip else ip
        if not container.get("ports"):
            groups.append({"targets": [ip], "labels": base})
        for number, protocol in container.get("ports", []):
            labels = {
                **base,
                "__meta_kubernetes_pod_container_port_number": str(number),
                "__meta_kubernetes_pod_container_port_protocol": protocol,
            }
            groups.append({"targets": [f"{host}:{number}"], "labels": labels})
    return groups


def pod(
    name: str,
    ip: str,
    *,
    app: str = "fastapi-app",
    phase: str = "Running",
    annotations: dict[str, str] | None = None,
) -> dict[str, str]:
    labels = {
        "__meta_kubernetes_namespace": "promkit-sample",
        "__meta_kubernetes_pod_name": name,
        "__meta_kubernetes_pod_ip": ip,
        "__meta_kubernetes_pod_phase": phase,
        "__meta_kubernetes_pod_label_app": app,
    }
    for key, value in (annotations or {}).items():
        labels[f"__meta_kubernetes_pod_annotation_prometheus_io_{key}"] = value
    return labels


SCRAPE = {"scrape": "true", "port": "8000", "path": "/metrics"}
APP = [{"name": "app", "ports": [(8000, "TCP")]}]

# pod -> its containers, and whether (on which address) Prometheus must scrape it.
PODS: list[tuple[dict[str, str], list[dict[str, Any]], str | None]] = [
    # Two replicas of one Deployment: one target each.
    (pod("app-a", "127.0.0.2", annotations=SCRAPE), APP, "127.0.0.2:8000"),
    (pod("app-b", "127.0.0.3", annotations=SCRAPE), APP, "127.0.0.3:8000"),
    # The worker: metrics on 8001, its own app label.
    (
        pod("worker-a", "127.0.0.4", app="celery-workers", annotations={**SCRAPE, "port": "8001"}),
        [{"name": "worker", "ports": [(8001, "TCP")]}],
        "127.0.0.4:8001",
    ),
    # Several ports, a container without ports, an init container on the same port,
    # the metrics port declared for TCP and UDP: still exactly one target.
    (
        pod("multi", "127.0.0.5", annotations={**SCRAPE, "path": "/custom/metrics"}),
        [
            {"name": "app", "ports": [(8000, "TCP"), (8000, "UDP"), (9000, "TCP")]},
            {"name": "sidecar"},
            {"name": "migrate", "init": True, "ports": [(8000, "TCP")]},
        ],
        "127.0.0.5:8000",
    ),
    # A native sidecar (an init container that keeps running) serving the metrics.
    (
        pod("exporter", "127.0.0.11", app="exported", annotations={**SCRAPE, "port": "9100"}),
        [
            {"name": "app", "ports": [(8080, "TCP")]},
            {"name": "exporter", "init": True, "ports": [(9100, "TCP")]},
        ],
        "127.0.0.11:9100",
    ),
    # IPv6 pod IPs come bracketed from discovery and stay that way.
    (pod("app-v6", "::1", annotations=SCRAPE), APP, "[::1]:8000"),
    # Not scraped: not opted in, opted out, not running, no port annotation,
    # annotated port not declared by any container.
    (pod("quiet", "127.0.0.6"), APP, None),
    (pod("opted-out", "127.0.0.7", annotations={**SCRAPE, "scrape": "false"}), APP, None),
    (pod("pending", "127.0.0.8", phase="Pending", annotations=SCRAPE), APP, None),
    (
        pod("no-port", "127.0.0.9", annotations={"scrape": "true"}),
        [{"name": "app"}],
        None,
    ),
    (pod("undeclared", "127.0.0.10", annotations={**SCRAPE, "port": "8002"}), APP, None),
]


def pods_job_with_file_sd(targets_file: Path) -> dict[str, Any]:
    """prometheus-k8s.yml with its kubernetes-pods job fed from ``targets_file``."""
    config = yaml.safe_load(CONFIG.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "kubernetes-pods"]
    assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
    job["file_sd_configs"] = [{"files": [str(targets_file)]}]
    job["scrape_interval"] = job["scrape_timeout"] = "1h"
    config["scrape_configs"] = [job]
    return dict(config)


@pytest.fixture(scope="module")
def active_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("k8s-relabel")
    targets = folder / "targets.json"
    targets.write_text(json.dumps([g for p, cs, _ in PODS for g in container_targets(p, cs)]))
    server = PrometheusServer(prometheus_binary(), pods_job_with_file_sd(targets)).start()
    try:
        yield settled_targets(server)
    finally:
        server.stop()


def settled_targets(server: PrometheusServer) -> list[dict[str, Any]]:
    """Active targets once discovery has judged the groups, within 40s.

    file_sd hands over the whole file in one update, and the scrape manager applies an
    update whole, so the first answer naming any active or dropped target is final.
    """

    def judged() -> list[dict[str, Any]] | None:
        found = server.api("/api/v1/targets", {"state": "any"})
        seen = found["activeTargets"] or found["droppedTargets"]
        return found["activeTargets"] if seen else None

    active: list[dict[str, Any]] = wait_for("discovered targets", judged, 40, 0.5)
    return active


def test_exactly_one_target_per_running_opted_in_pod(active_targets: list[dict[str, Any]]) -> None:
    kept = sorted(t["labels"]["pod"] for t in active_targets)
    assert kept == ["app-a", "app-b", "app-v6", "exporter", "multi", "worker-a"]


def test_targets_use_the_annotated_port_and_path(active_targets: list[dict[str, Any]]) -> None:
    expected = {p["__meta_kubernetes_pod_name"]: address for p, _, address in PODS if address}
    for target in active_targets:
        pod_name = target["labels"]["pod"]
        assert target["labels"]["instance"] == expected[pod_name]
        path = "/custom/metrics" if pod_name == "multi" else "/metrics"
        assert target["scrapeUrl"] == f"http://{expected[pod_name]}{path}"


def test_series_carry_namespace_pod_and_app(active_targets: list[dict[str, Any]]) -> None:
    for target in active_targets:
        labels = target["labels"]
        assert set(labels) == {"instance", "job", "namespace", "pod", "app"}
        assert labels["job"] == "kubernetes-pods"
        assert labels["namespace"] == "promkit-sample"
    apps = {t["labels"]["pod"]: t["labels"]["app"] for t in active_targets}
    assert apps["worker-a"] == "celery-workers"
    assert apps["app-a"] == "fastapi-app"
