"""The kwok harness itself, proven with a minimal stack created here (not promkit's k8s/).

Namespace ``smoke``: a Deployment of tiny real metrics servers (one process per pod, on
the pod's 127.x IP), annotated for scraping. Namespace ``smoke-monitoring``: Prometheus
(Deployment, ConfigMap with ``role: pod`` discovery, Service, ServiceAccount with a
ClusterRole to get/list/watch pods) played by the real binary through ClusterPrometheus.
The tests share that stack and leave it as they found it (2 replicas, RBAC in place).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from harness import (
    ClusterPrometheus,
    HarnessError,
    KwokCluster,
    PodCommand,
    PodProcesses,
    wait_until,
)

pytestmark = pytest.mark.e2e_k8s

APPS, MONITORING = "smoke", "smoke-monitoring"
APP_SELECTOR = "app=smoke-metrics"
JOB = "smoke-pods"

#: A metrics endpoint per pod: a counter of its scrapes, and an info series carrying env
#: values from the pod spec (a literal and a fieldRef), so the test sees them arrive.
METRICS_SERVER = r"""
import http.server, os, sys
host, port = sys.argv[1], int(sys.argv[2])
info = f'smoke_info{{pod_ip="{os.environ["POD_IP"]}",greeting="{os.environ["GREETING"]}"}} 1'
class Metrics(http.server.BaseHTTPRequestHandler):
    scrapes = 0
    def do_GET(self):
        Metrics.scrapes += 1
        body = f"smoke_scrapes_total {Metrics.scrapes}\n{info}\n".encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((host, port), Metrics).serve_forever()
"""

PROMETHEUS_CONFIG = {
    "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
    "scrape_configs": [
        {
            "job_name": JOB,
            "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [APPS]}}],
            "relabel_configs": [
                {
                    "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                    "action": "keep",
                    "regex": "true",
                },
                {
                    "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
                    "regex": "(.+)",
                    "target_label": "__metrics_path__",
                },
                {
                    "source_labels": [
                        "__meta_kubernetes_pod_ip",
                        "__meta_kubernetes_pod_annotation_prometheus_io_port",
                    ],
                    "regex": "(.+);(\\d+)",
                    "replacement": "$1:$2",
                    "target_label": "__address__",
                },
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            ],
        }
    ],
}


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _deployment(
    namespace: str,
    name: str,
    replicas: int,
    pod: dict[str, Any],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                "spec": pod,
            },
        },
    }


def app_objects() -> list[dict[str, Any]]:
    container = {
        "name": "metrics",
        "image": "example.invalid/smoke-metrics:1",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [
            {"name": "GREETING", "value": "hello-from-spec"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
    }
    scrape = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }
    return [
        _namespace(APPS),
        _deployment(APPS, "smoke-metrics", 2, {"containers": [container]}, scrape),
    ]


RBAC: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "smoke-prometheus", "namespace": MONITORING},
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "smoke-prometheus"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
    },
]
BINDING: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "smoke-prometheus"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "smoke-prometheus",
    },
    "subjects": [{"kind": "ServiceAccount", "name": "smoke-prometheus", "namespace": MONITORING}],
}


def monitoring_objects() -> list[dict[str, Any]]:
    container = {
        "name": "prometheus",
        "image": "prom/prometheus:v3.16.0",
        # The listen address is the one flag the harness overrides (to the pod's IP).
        "args": [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--web.listen-address=0.0.0.0:9090",
        ],
        "ports": [{"name": "web", "containerPort": 9090}],
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/prometheus", "readOnly": True},
            {"name": "data", "mountPath": "/prometheus"},
        ],
    }
    pod = {
        "serviceAccountName": "smoke-prometheus",
        "securityContext": {"runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": "smoke-prometheus-config"}},
            {"name": "data", "emptyDir": {}},
        ],
    }
    return [
        _namespace(MONITORING),
        *RBAC,
        BINDING,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "smoke-prometheus-config", "namespace": MONITORING},
            "data": {"prometheus.yml": yaml.safe_dump(PROMETHEUS_CONFIG)},
        },
        _deployment(MONITORING, "prometheus", 1, pod),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "prometheus", "namespace": MONITORING},
            "spec": {
                "selector": {"app": "prometheus"},
                "ports": [{"name": "web", "port": 9090, "targetPort": "web"}],
            },
        },
    ]


@pytest.fixture(scope="module")
def apps(kwok_cluster: KwokCluster) -> Iterator[PodProcesses]:
    kwok_cluster.apply(*app_objects())
    command = PodCommand(APP_SELECTOR, [sys.executable, "-c", METRICS_SERVER, "{pod_ip}", "{port}"])
    with PodProcesses(kwok_cluster, APPS, [command]) as processes:
        processes.wait_for(2)
        yield processes


@pytest.fixture(scope="module")
def prometheus(kwok_cluster: KwokCluster, apps: PodProcesses) -> Iterator[ClusterPrometheus]:
    kwok_cluster.apply(*monitoring_objects())
    wait_until("prometheus pod Running", lambda: _running_pod(kwok_cluster), 60)
    with ClusterPrometheus(kwok_cluster, namespace=MONITORING) as server:
        server.wait_ready()
        yield server


def _running_pod(cluster: KwokCluster) -> bool | None:
    pods = cluster.get("pods", "-n", MONITORING, "-l", "app=prometheus")["items"]
    return True if any(p["status"].get("phase") == "Running" for p in pods) else None


def targets(url: str) -> list[tuple[str, str]]:
    """(scrape URL, health) of the job's active targets, sorted."""
    response = httpx.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=5.0)
    response.raise_for_status()
    return sorted(
        (t["scrapeUrl"], t["health"])
        for t in response.json()["data"]["activeTargets"]
        if t["labels"].get("job") == JOB
    )


def wait_for_targets(url: str, expected: list[tuple[str, str]], timeout: float = 60.0) -> None:
    seen: list[list[tuple[str, str]]] = []

    def probe() -> bool | None:
        seen.append(targets(url))
        return True if seen[-1] == expected else None

    try:
        wait_until("targets", probe, timeout)
    except HarnessError as exc:
        raise AssertionError(f"expected {expected}, last seen {seen[-1:]}: {exc}") from None


def up_targets(pods: PodProcesses) -> list[tuple[str, str]]:
    return sorted((f"http://{pod.ip}:8080/metrics", "up") for pod in pods.pods())


def query(url: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5.0)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def test_prometheus_discovers_exactly_the_two_pods_and_they_are_up(
    apps: PodProcesses, prometheus: ClusterPrometheus
) -> None:
    pods = apps.pods()
    assert len(pods) == 2
    assert all(pod.ip and pod.ip.startswith("127.") for pod in pods)
    url = prometheus.wait_ready()
    wait_for_targets(url, up_targets(apps))
    # The processes got the pod's env: the literal and the fieldRef arrive in the series.
    info = wait_until("smoke_info scraped", lambda: query(url, "smoke_info") or None, 30)
    assert sorted(s["metric"]["pod_ip"] for s in info) == sorted(str(p.ip) for p in pods)
    assert {s["metric"]["greeting"] for s in info} == {"hello-from-spec"}


def test_prometheus_runs_as_the_pod_spec_says(prometheus: ClusterPrometheus) -> None:
    url = prometheus.wait_ready()
    flags = httpx.get(f"{url}/api/v1/status/flags", timeout=5.0).json()["data"]
    assert flags["config.file"] == "/etc/prometheus/prometheus.yml"
    assert flags["storage.tsdb.path"] == "/prometheus"
    pod = prometheus.pod
    assert pod is not None and flags["web.listen-address"] == f"{pod.ip}:9090"
    # As the pod's securityContext says: runAsUser/runAsGroup 65534, fsGroup 65534.
    assert prometheus.processes is not None
    pid = prometheus.processes.pid(pod.name)
    status = Path(f"/proc/{pid}/status").read_text()
    ids = {line.split(":")[0]: line.split()[1:] for line in status.splitlines()}
    assert ids["Uid"][0] == "65534" and ids["Gid"][0] == "65534", status
    assert "65534" in ids["Groups"], status
    config = httpx.get(f"{url}/api/v1/status/config", timeout=5.0).json()["data"]["yaml"]
    assert yaml.safe_load(config)["scrape_configs"][0]["job_name"] == JOB


def test_port_forward_to_the_service_reaches_prometheus(
    kwok_cluster: KwokCluster, apps: PodProcesses, prometheus: ClusterPrometheus
) -> None:
    url = prometheus.wait_ready()
    wait_for_targets(url, up_targets(apps))
    with kwok_cluster.port_forward("svc/prometheus", 9090, namespace=MONITORING) as forwarded:
        ready = httpx.get(f"{forwarded}/-/ready", timeout=5.0)
        assert ready.status_code == 200, ready.text
        assert "Ready" in ready.text
        up = query(forwarded, f'up{{job="{JOB}"}}')
        assert sorted(s["metric"]["instance"] for s in up) == sorted(
            f"{pod.ip}:8080" for pod in apps.pods()
        )


def test_scaling_to_three_gives_three_up_targets(
    kwok_cluster: KwokCluster, apps: PodProcesses, prometheus: ClusterPrometheus
) -> None:
    url = prometheus.wait_ready()
    kwok_cluster.kubectl("scale", "deployment/smoke-metrics", "-n", APPS, "--replicas=3")
    try:
        pods = apps.wait_for(3)
        assert len({pod.ip for pod in pods}) == 3
        wait_for_targets(url, up_targets(apps))
    finally:
        kwok_cluster.kubectl("scale", "deployment/smoke-metrics", "-n", APPS, "--replicas=2")
        apps.wait_for(2)
    wait_for_targets(url, up_targets(apps))


def test_without_its_cluster_role_binding_prometheus_discovers_nothing(
    kwok_cluster: KwokCluster, apps: PodProcesses, prometheus: ClusterPrometheus
) -> None:
    url = prometheus.wait_ready()
    wait_for_targets(url, up_targets(apps))
    kwok_cluster.kubectl("delete", "clusterrolebinding", "smoke-prometheus")
    try:
        # A running Prometheus keeps its open watch (RBAC is checked per request, and the
        # API server ends watches only after 30-60 min): its targets stay...
        time.sleep(3)
        assert targets(url) == up_targets(apps)
        # ...and the denial shows when discovery lists again: in a new pod, as after any
        # rollout.
        url = restart(kwok_cluster, prometheus)
        wait_until("discovery denied", lambda: denial(prometheus.log()), 30)
        assert targets(url) == []
    finally:
        kwok_cluster.apply(BINDING)
    wait_for_targets(restart(kwok_cluster, prometheus), up_targets(apps))


def denial(log: str) -> str | None:
    """The log line where the API server refused the pod list to Prometheus' account."""
    account = "system:serviceaccount:smoke-monitoring:smoke-prometheus"
    return next(
        (line for line in log.splitlines() if "pods is forbidden" in line and account in line), None
    )


def restart(cluster: KwokCluster, prometheus: ClusterPrometheus) -> str:
    """Roll the Prometheus Deployment; the URL of the new pod's Prometheus once ready."""
    old = prometheus.pod
    assert old is not None
    cluster.kubectl("rollout", "restart", "deployment/prometheus", "-n", MONITORING)
    return prometheus.wait_ready(not_pod=old.uid)
