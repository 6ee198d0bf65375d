"""Figure 8: `inv verify.discovery` with 1,000 annotated pods, against fetching its inputs.

A kwokctl control plane of the bench's own, with kwok's controller playing one fake node
(no kubelet: its pods are Running at once, with loopback IPs, nothing listens there), and
1,000 pods annotated like the sample app: 10 Deployments of 100 replicas. Prometheus 3.16
runs on this machine and discovers them through the control plane's kubeconfig
(``kubernetes_sd_configs`` with ``kubeconfig_file``) with promkit's own relabel rules
(config/prometheus/prometheus-k8s.yml).

Timed: `inv verify.discovery --url URL --context CTX` as a new process (wall time, and
its own peak RSS), against the floor of fetching what it reads, concurrently as it does:
`kubectl get --raw` of the pods of every namespace, one `kubectl get` of the Deployments,
StatefulSets and DaemonSets, and a curl of the targets and the configuration.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sh
import yaml

from bench.common import (
    ROOT,
    Figure,
    Options,
    Row,
    goal,
    green_sample,
    log,
    median_below,
    prometheus,
    run_measured,
    sample,
    timed_ms,
    wall_sample,
)
from promkit.k8s import kubectl as kube
from tests.support import active_targets, inv_argv, run, wait_for
from tests.support.kube import harness
from tests.support.processes import ANY_EXIT

DEPLOYMENTS = 10
JOB = "kubernetes-pods"
GOAL_S, GOAL_MB = 1.0, 150.0
NAMESPACE = "promkit-bench"
NAME = "promkit-bench-discovery"
#: kwok's own stages (scripts/build-kube.sh copies them): a fake node and fast pods.
STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)


def skip_reason() -> str | None:
    try:
        binaries = harness.KubeBinaries.locate()
    except (RuntimeError, OSError) as exc:  # HarnessError is a RuntimeError
        return f"skipped: {str(exc)[:120]}"
    if not (binaries.folder / "kwok").exists():
        return f"skipped: no kwok in {binaries.folder}: run scripts/build-kube.sh"
    return None


class ControlPlane:
    """The harness' kwokctl control plane, with kwok's controller playing one fake node."""

    def __init__(self, workdir: Path) -> None:
        self.binaries = harness.KubeBinaries.locate()
        self.plane = harness.ControlPlane(self.binaries, workdir, NAME)
        self.kubeconfig, self.context = self.plane.kubeconfig, self.plane.context

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        argv = ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--context={self.context}", *args]
        done = run(argv, stdin=stdin, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])}: {done.stderr.strip()[-300:]}")
        return done.stdout

    def create(self) -> None:
        stages = [(self.binaries.folder / "stages" / stage).read_text() for stage in STAGES]
        config = {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
                  "options": {"bindAddress": "127.0.0.1"}}  # fmt: skip
        kwok = str(self.binaries.folder / "kwok")
        self.plane.create([yaml.safe_dump(config), *stages], "--kwok-controller-binary", kwok)

    def delete(self) -> None:
        self.plane.delete()


def fake_node(pods: int) -> dict[str, Any]:
    resources = {"cpu": "1000", "memory": "1000Gi", "pods": str(pods + 100)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "kwok-node-0",
                     "annotations": {"kwok.x-k8s.io/node": "fake"},
                     "labels": {"kubernetes.io/hostname": "kwok-node-0", "type": "kwok"}},
        "spec": {"podCIDR": "127.60.0.0/20", "podCIDRs": ["127.60.0.0/20"]},
        "status": {"allocatable": resources, "capacity": resources,
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]},
    }  # fmt: skip


def annotated_deployment(index: int, replicas: int) -> dict[str, Any]:
    labels = {"app": f"bench-{index}"}
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": "8000",
                   "prometheus.io/path": "/metrics"}  # fmt: skip
    container = {"name": "app", "image": "promkit/sample-app:0.1.0",
                 "ports": [{"containerPort": 8000}]}  # fmt: skip
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"bench-{index}", "namespace": NAMESPACE},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels, "annotations": annotations},
                              "spec": {"containers": [container],
                                       "nodeSelector": {"type": "kwok"}}}},
    }  # fmt: skip


def discovery_config(kubeconfig: Path) -> dict[str, Any]:
    """promkit's pod-discovery job, discovering through ``kubeconfig`` from outside."""
    source = yaml.safe_load((ROOT / "config" / "prometheus" / "prometheus-k8s.yml").read_text())
    job = copy.deepcopy(next(j for j in source["scrape_configs"] if j["job_name"] == JOB))
    job["kubernetes_sd_configs"] = [{"role": "pod", "kubeconfig_file": str(kubeconfig)}]
    job["scrape_timeout"] = "1s"
    return {"global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
            "scrape_configs": [job]}  # fmt: skip


@contextmanager
def cluster_with_pods(workdir: Path, pods: int) -> Iterator[ControlPlane]:
    plane = ControlPlane(workdir)
    log("figure 8: starting a kwok control plane with one fake node")
    plane.create()
    try:
        objects = [fake_node(pods), {"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": NAMESPACE}}]  # fmt: skip
        objects += [annotated_deployment(i, pods // DEPLOYMENTS) for i in range(DEPLOYMENTS)]
        plane.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
        log(f"figure 8: waiting for {pods} annotated pods Running on the fake node")

        def running() -> bool:
            phases = plane.kubectl("get", "pods", "-n", NAMESPACE, "-o",
                                   "jsonpath={.items[*].status.phase}").split()  # fmt: skip
            return phases.count("Running") == pods

        wait_for(f"{pods} pods Running", running, 300, every=2.0)
        yield plane
    finally:
        plane.delete()


def floor_fetch(plane: ControlPlane, url: str) -> None:
    """What verify.discovery reads, fetched concurrently: the two kubectl reads and curl."""
    kubectl = sh.kubectl.bake(f"--kubeconfig={plane.kubeconfig}", f"--context={plane.context}")
    reads = [["get", "--raw", kube.DISCOVERY_PODS],
             ["get", kube.DISCOVERY_WORKLOADS, "--all-namespaces", "-o", "json"]]  # fmt: skip
    lists = [kubectl(*read, _bg=True, _out="/dev/null", _ok_code=ANY_EXIT) for read in reads]
    curl = run(["curl", "-fsS", "--max-time", "30", "-o", "/dev/null", f"{url}/api/v1/targets",
                "-o", "/dev/null", f"{url}/api/v1/status/config"])  # fmt: skip
    if curl.returncode != 0:
        raise RuntimeError(f"curl failed in the floor: {curl.stderr.strip()}")
    if any(process.wait(timeout=60).exit_code != 0 for process in lists):
        raise RuntimeError("kubectl get failed in the floor")


def figure8(opts: Options) -> list[Row]:
    pods = opts.pods - opts.pods % DEPLOYMENTS
    label = f"8 `inv verify.discovery`, {pods:,} annotated pods vs kubectl + curl"
    reason = skip_reason()
    if reason:
        return [Row(label, reason)]
    with (
        tempfile.TemporaryDirectory(prefix="promkit-bench-discovery-") as tmp,
        cluster_with_pods(Path(tmp), pods) as plane,
        prometheus(opts.prometheus3, discovery_config(plane.kubeconfig)) as url,
    ):

        def discovered() -> bool:
            pools = [t["scrapePool"] for t in active_targets(url)]
            return pools.count("kubernetes-pods") >= pods

        log(f"figure 8: waiting for Prometheus to discover the {pods} pods")
        wait_for(f"{pods} discovered targets", discovered, 180, every=2.0)
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
        argv = inv_argv("verify.discovery", "--url", url, "--context", plane.context)
        ran = [run_measured(argv, env=env, timeout=120) for _ in range(opts.slow_runs)]
        floor = sample(timed_ms(lambda: floor_fetch(plane, url), opts.slow_runs))
    red = [r for r in ran if r.exit_code != 0]
    if red:
        log("figure 8: a red run's output:\n" + red[0].stdout[-2000:])
    wall = wall_sample(ran)
    rss = green_sample([(r.max_rss_mb, r.exit_code == 0) for r in ran], "MB")
    return [
        Row(label, wall, floor, goal(wall, f"< {GOAL_S:g} s", median_below(GOAL_S * 1000))),
        Row(f"8   peak memory (max RSS), {pods:,} pods", rss, "-",
            goal(rss, f"< {GOAL_MB:g} MB", lambda ours: max(ours.values) < GOAL_MB)),
    ]  # fmt: skip


FIGURES = (Figure("8", "verify.discovery over a thousand annotated pods", figure8),)
