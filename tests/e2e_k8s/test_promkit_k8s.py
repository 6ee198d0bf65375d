"""promkit's own k8s/ on a real control plane: deploy.k8s, verify --context, destroy.k8s.

The cluster is this module's own (the smoke tests' stack would add targets to the
pod-discovery job). The sample app, worker and Redis pods are played by real processes
on their pod IPs, Prometheus by the real 3.x binary with the cluster's config, args and
ServiceAccount token. Every check goes through the user's path: `inv ... --context X`,
which port-forwards to svc/prometheus. The tests run in file order and share the stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import (
    REPO,
    ClusterPrometheus,
    KubeBinaries,
    KwokCluster,
    Pod,
    PodCommand,
    PodProcesses,
    wait_until,
)

from promkit.errors import PromkitError
from promkit.traffic import post_webhooks

pytestmark = pytest.mark.e2e_k8s

SAMPLE, MONITORING, EXTRA = "promkit-sample", "monitoring", "scenario"
JOB = "kubernetes-pods"
WAIT = "90"  # seconds verify --wait may take: a few 15s scrape intervals


class Stack:
    """The cluster plus what plays its pods."""

    def __init__(self, cluster: KwokCluster, workdir: Path) -> None:
        self.cluster, self.workdir = cluster, workdir
        self.prometheus: ClusterPrometheus | None = None

    def inv(
        self, *args: str, settings: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`inv ARGS` as a user runs it, against this cluster (optionally with a settings file)."""
        pre: list[str] = []
        if settings is not None:
            path = self.workdir / f"settings-{time.monotonic_ns()}.yaml"
            path.write_text(yaml.safe_dump(settings))
            pre = ["-f", str(path)]
        argv = [sys.executable, "-m", "invoke", *pre, *args]
        env = {**os.environ, **self.cluster.env()}
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        print(
            f"$ inv {' '.join(pre + list(args))} -> {done.returncode}\n{done.stdout}{done.stderr}"
        )
        return done

    def targets(self) -> list[dict[str, Any]]:
        """Active targets of the pod-discovery job, straight from the Prometheus process."""
        assert self.prometheus is not None and self.prometheus.pod is not None
        url = self.prometheus.url_of(self.prometheus.pod) + "/api/v1/targets?state=active"
        with urllib.request.urlopen(url, timeout=5) as response:
            active = json.load(response)["data"]["activeTargets"]
        return [t for t in active if t["labels"]["job"] == JOB]


def redis_url(cluster: KwokCluster) -> Any:
    """REDIS_URL for a pod: there is no cluster DNS, so name the Redis pod's IP."""

    def for_pod(_pod: Pod) -> str:
        pods = cluster.get("pods", "-n", SAMPLE, "-l", "app=redis")["items"]
        ips = [p["status"]["podIP"] for p in pods if p["status"].get("podIP")]
        return f"redis://{ips[0]}:6379/0" if ips else "redis://127.0.0.1:1/0"

    return for_pod


def sample_launchers(cluster: KwokCluster) -> list[PodCommand]:
    redis = redis_url(cluster)
    return [
        PodCommand(
            "app=redis",
            [
                "redis-server",
                "--bind",
                "{pod_ip}",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        ),
        PodCommand(
            "app=fastapi-app",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "sample_app.app:app",
                "--host",
                "{pod_ip}",
                "--port",
                "8000",
                "--log-level",
                "warning",
            ],
            env={"REDIS_URL": redis},
        ),
        PodCommand(
            "app=celery-workers",
            [
                sys.executable,
                "-m",
                "celery",
                "--app=sample_app.worker",
                "worker",
                "--pool=threads",
                "--concurrency=2",
                "--queues=enhancement:queue",
                "--loglevel=WARNING",
            ],
            env={
                "REDIS_URL": redis,
                "WORKER_METRICS_ADDR": "{pod_ip}",
                "SAMPLE_APP_LATENCY_SCALE": "0.1",
            },
        ),
    ]


def post_traffic(stack: Stack, seconds: float = 60.0) -> None:
    """Post webhooks to every app pod for ``seconds`` (bounded), through promkit's traffic code.

    A trickle, not a burst: rate() needs counters that grow between two scrapes.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pods = stack.cluster.get("pods", "-n", SAMPLE, "-l", "app=fastapi-app")["items"]
        for ip in [p["status"].get("podIP") for p in pods if p["status"].get("podIP")]:
            # The pod's process may not listen yet: the next round tries again.
            with contextlib.suppress(PromkitError):
                post_webhooks(f"http://{ip}:8000", count=3, duration_s=1.0)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def stack(kube_binaries: KubeBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("promkit-k8s")
    with KwokCluster(kube_binaries, workdir / "kwok", name="promkit-k8s") as cluster:
        stack = Stack(cluster, workdir)
        with PodProcesses(cluster, SAMPLE, sample_launchers(cluster)):
            yield stack
            if stack.prometheus is not None:
                stack.prometheus.stop()


def start_prometheus(stack: Stack) -> None:
    def deployed() -> bool | None:
        done = stack.cluster.kubectl(
            "get", "deployment", "prometheus", "-n", MONITORING, check=False
        )
        return True if done.ok else None

    wait_until("deployment monitoring/prometheus", deployed, 300)
    stack.prometheus = ClusterPrometheus(stack.cluster)
    stack.prometheus.start()


def test_deploy_then_verify_on_one_command_line(stack: Stack) -> None:
    starter = threading.Thread(target=start_prometheus, args=(stack,))
    traffic = threading.Thread(target=post_traffic, args=(stack,))
    starter.start()
    traffic.start()
    done = stack.inv(
        "deploy.k8s", "verify.targets", "--context", stack.cluster.context, "--wait", WAIT
    )
    starter.join()
    assert stack.prometheus is not None, "the Prometheus Deployment never appeared"
    diagnosis = f"{stack.prometheus.processes.errors if stack.prometheus.processes else ''}"
    diagnosis += stack.prometheus.log()[-3000:]
    assert done.returncode == 0, done.stdout + done.stderr + diagnosis
    assert "[port-forward] kubectl --context kwok-promkit-k8s port-forward" in done.stdout
    traffic.join()
    report = stack.workdir / "all.json"
    # Through a port-forward the health latency includes kubectl's and kwok's tunnel, on a
    # 2-core machine running the whole control plane: budget it as a remote server's.
    tunnel_budget = {"expect": {"health_latency_ms": 250}}
    full = stack.inv(
        "verify.all",
        "--context",
        stack.cluster.context,
        "--wait",
        "5",
        "--json",
        str(report),
        settings=tunnel_budget,
    )
    results = {r["name"]: r for r in json.loads(report.read_text())["results"]}
    assert full.returncode == 0, full.stdout + full.stderr
    assert all(r["ok"] for r in results.values()), full.stdout
    # The pods run Prometheus 3.16 with its UI compiled in.
    assert results["ui"]["evidence"][0].startswith("UI landing page (/query) 200"), full.stdout


def test_one_target_per_annotated_pod_with_namespace_and_pod_labels(stack: Stack) -> None:
    pods = stack.cluster.get("pods", "-n", SAMPLE)["items"]
    annotated = {
        p["metadata"]["name"]
        for p in pods
        if p["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true"
    }
    targets = stack.targets()
    assert sorted(t["labels"]["pod"] for t in targets) == sorted(annotated)
    assert {t["labels"]["namespace"] for t in targets} == {SAMPLE}
    assert {t["labels"]["app"] for t in targets} == {"fastapi-app", "celery-workers"}
    assert all(t["health"] == "up" for t in targets), targets


@pytest.mark.parametrize("replicas", [3, 2, 1])
def test_scaling_the_app_is_followed_target_for_target(stack: Stack, replicas: int) -> None:
    stack.cluster.kubectl(
        "scale", "deployment", "fastapi-app", "-n", SAMPLE, f"--replicas={replicas}"
    )
    settings = {"k8s": {"expect_jobs": {JOB: f"={replicas + 1}", "prometheus": 1}}}
    done = stack.inv(
        "verify.targets", "--context", stack.cluster.context, "--wait", "35", settings=settings
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"job {JOB} has {replicas + 1} active targets" in done.stdout


METRICS = r"""
import http.server, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == path
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(b"scenario_up 1\n" if ok else b"")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((host, port), H).serve_forever()
"""


def scenario_deployment(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": EXTRA},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "containers": [
                        {"name": "m", "image": "scenario:1", "ports": [{"containerPort": 9123}]}
                    ]
                },
            },
        },
    }


def test_annotations_decide_what_is_scraped_and_where(stack: Stack) -> None:
    stack.cluster.kubectl("create", "namespace", EXTRA)
    stack.cluster.apply(
        scenario_deployment(
            "custom",
            {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9123",
                "prometheus.io/path": "/custom/metrics",
            },
        ),
        scenario_deployment("unannotated", {}),
        scenario_deployment(
            "opted-out", {"prometheus.io/scrape": "false", "prometheus.io/port": "9123"}
        ),
    )
    launchers = [
        PodCommand(
            f"app={name}", [sys.executable, "-c", METRICS, "{pod_ip}", "9123", "/custom/metrics"]
        )
        for name in ("custom", "unannotated", "opted-out")
    ]
    try:
        with PodProcesses(stack.cluster, EXTRA, launchers) as extra:
            extra.wait_for(3)

            def custom_up() -> list[dict[str, Any]] | None:
                found = [t for t in stack.targets() if t["labels"]["namespace"] == EXTRA]
                return found if found and all(t["health"] == "up" for t in found) else None

            found = wait_until("the custom target UP", custom_up, 45)
            assert [t["labels"]["app"] for t in found] == ["custom"]
            assert found[0]["scrapeUrl"].endswith(":9123/custom/metrics")
    finally:
        stack.cluster.kubectl("delete", "namespace", EXTRA, "--wait=true", check=False)


def k8s_tree_with_interval(stack: Stack, interval: str) -> Path:
    """A copy of k8s/ and config/prometheus/ whose scrape config says ``interval``."""
    root = stack.workdir / f"tree-{interval}"
    shutil.copytree(REPO / "k8s", root / "k8s")
    shutil.copytree(REPO / "config" / "prometheus", root / "config" / "prometheus")
    config = root / "config" / "prometheus" / "prometheus-k8s.yml"
    config.write_text(
        config.read_text().replace("scrape_interval: 15s", f"scrape_interval: {interval}")
    )
    return root / "k8s"


def configmap_names(stack: Stack) -> set[str]:
    items = stack.cluster.get("configmaps", "-n", MONITORING)["items"]
    return {i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith("prometheus")}


def test_config_change_rolls_prometheus_and_verify_sees_it(stack: Stack) -> None:
    assert stack.prometheus is not None
    before, old_pod = configmap_names(stack), stack.prometheus.pod
    assert old_pod is not None
    changed = {"k8s": {"kustomization": str(k8s_tree_with_interval(stack, "30s"))}}
    context = stack.cluster.context
    assert stack.inv("deploy.k8s", "--context", context, settings=changed).returncode == 0
    assert configmap_names(stack) - before, "a new hash-named ConfigMap"
    stack.prometheus.wait_ready(not_pod=old_pod.uid)

    def reports_30s() -> str | None:
        done = stack.inv("verify.interval", "--context", context)
        return done.stdout if done.returncode == 1 and "30s" in done.stdout else None

    out = wait_until("verify.interval reporting 30s", reports_30s, 60)
    assert "expected 15s" in out or "15s" in out
    old_pod = stack.prometheus.pod
    assert stack.inv("deploy.k8s", "--context", context).returncode == 0
    assert old_pod is not None
    stack.prometheus.wait_ready(not_pod=old_pod.uid)
    assert stack.inv("verify.interval", "--context", context, "--wait", "30").returncode == 0


def test_without_its_binding_prometheus_discovers_nothing_and_verify_says_rbac(
    stack: Stack,
) -> None:
    assert stack.prometheus is not None and stack.prometheus.pod is not None
    context = stack.cluster.context
    stack.cluster.kubectl("delete", "clusterrolebinding", "promkit-prometheus")
    # A running Prometheus keeps its authorised watch; a new pod meets the denial.
    old = stack.prometheus.pod.uid
    stack.cluster.kubectl("rollout", "restart", "deployment/prometheus", "-n", MONITORING)
    stack.prometheus.wait_ready(not_pod=old)

    def denied() -> str | None:
        done = stack.inv("verify.targets", "--context", context)
        return (
            done.stdout
            if done.returncode == 1 and "nothing was discovered" in done.stdout
            else None
        )

    out = wait_until("verify.targets reporting nothing discovered", denied, 60)
    assert "RBAC" in out and JOB in out
    assert "forbidden" in stack.prometheus.log()
    assert stack.inv("deploy.k8s", "--context", context).returncode == 0
    done = stack.inv("verify.targets", "--context", context, "--wait", "120")
    assert done.returncode == 0, done.stdout


def promkit_objects(stack: Stack) -> dict[str, str]:
    """kind/namespace/name -> resourceVersion of every object labelled part-of=promkit."""
    kinds = "deployments,services,configmaps,serviceaccounts,networkpolicies,pvc,namespaces"
    found = stack.cluster.get(
        kinds + ",clusterroles,clusterrolebindings", "-A", "-l", "app.kubernetes.io/part-of=promkit"
    )
    return {
        f"{i['kind']}/{i['metadata'].get('namespace', '')}/{i['metadata']['name']}": i["metadata"][
            "resourceVersion"
        ]
        for i in found["items"]
    }


def test_second_deploy_changes_nothing_and_no_context_refuses(stack: Stack) -> None:
    context = stack.cluster.context
    before = promkit_objects(stack)
    assert before
    assert stack.inv("deploy.k8s", "--context", context).returncode == 0
    assert promkit_objects(stack) == before
    refused = stack.inv("deploy.k8s")
    assert refused.returncode == 2
    assert "no Kubernetes context given: pass --context" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr


def test_destroy_with_volumes_leaves_nothing(stack: Stack) -> None:
    assert stack.prometheus is not None
    stack.prometheus.stop()
    stack.prometheus = None
    done = stack.inv("destroy.k8s", "--context", stack.cluster.context, "--volumes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert promkit_objects(stack) == {}
    names = {i["metadata"]["name"] for i in stack.cluster.get("namespaces")["items"]}
    assert not names & {SAMPLE, MONITORING}
