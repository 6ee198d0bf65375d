"""promkit's own k8s/ on a real node: deploy.k8s, verify --context, destroy.k8s.

The kubelet runs the images users get (Prometheus 3.16 with its UI, the sample app, its
worker, Redis) from an overlay of the test's own; probes, the security contexts, cluster
DNS and ClusterIPs are the real ones. Every check goes through the user's path:
``inv ... --context X``, which port-forwards to svc/prometheus through the kubelet.

The tests share the cluster, not an order: each runs alone (``-k NAME``) and after any
other. ``deployed`` brings the stack back to the overlay when it differs (a test that
changes it puts it back in a ``finally`` too, so the next one rarely pays a deploy).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import sh
import yaml

from tests.support import Completed, WaitTimeout, active_targets, get, inv, wait_for
from tests.support.kube.harness import REPO, Cluster, is_ready

pytestmark = pytest.mark.e2e_k8s

SAMPLE, MONITORING, EXTRA = "promkit-sample", "monitoring", "scenario"
JOB = "kubernetes-pods"
WAIT = "90"  # seconds verify --wait may take: a few 15s scrape intervals
#: Through a port-forward the health latency includes kubectl's and the kubelet's tunnel,
#: on a 2-core machine running the whole cluster: budget it as a remote server's.
TUNNEL_BUDGET = {"expect": {"health_latency_ms": 250}}


class Stack:
    """The cluster, the overlay deployed, and how a user drives it."""

    def __init__(self, cluster: Cluster, workdir: Path) -> None:
        self.cluster, self.workdir = cluster, workdir
        self.kustomization = cluster.overlay(REPO / "k8s")

    def inv(self, *args: str, settings: dict[str, Any] | None = None) -> Completed:
        """`inv ARGS` as a user runs it, against this cluster and overlay."""
        merged: dict[str, Any] = {"k8s": {"kustomization": str(self.kustomization)}}
        for key, value in (settings or {}).items():
            merged[key] = {**merged.get(key, {}), **value}
        path = self.workdir / f"settings-{time.monotonic_ns()}.yaml"
        path.write_text(yaml.safe_dump(merged))
        env = {**os.environ, **self.cluster.env()}
        result = inv("-f", str(path), *args, cwd=REPO, env=env, timeout=600)
        print(f"$ inv {' '.join(args)} -> {result.returncode}\n{result.output}")
        return result

    def ok(self, *args: str, settings: dict[str, Any] | None = None) -> Completed:
        """`inv ARGS` that must exit 0; the failure message is its output."""
        done = self.inv(*args, settings=settings)
        assert done.returncode == 0, (
            f"inv {' '.join(args)} exited {done.returncode}:\n{done.output}"
        )
        return done

    @property
    def context(self) -> str:
        return self.cluster.context

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return list(self.cluster.get("pods", "-n", namespace, "-l", selector)["items"])

    def prometheus_pod(self) -> dict[str, Any]:
        """The one Prometheus pod that is not being deleted."""
        pods = [
            p
            for p in self.pods(MONITORING, "app=prometheus")
            if "deletionTimestamp" not in p["metadata"]
        ]
        assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
        return pods[0]

    def prometheus_url(self) -> str:
        """Prometheus at its pod IP: the host reaches pods over the node's bridge."""
        return f"http://{self.prometheus_pod()['status']['podIP']}:9090"

    def targets(self) -> list[dict[str, Any]]:
        """Active targets of the pod-discovery job, straight from the Prometheus pod."""
        found = active_targets(self.prometheus_url())
        return [t for t in found if t["labels"]["job"] == JOB]

    def exec(self, namespace: str, target: str, *command: str) -> Any:
        """``kubectl exec`` (through the kubelet); the sh result, whatever the exit code."""
        return self.cluster.kubectl("exec", "-n", namespace, target, "--", *command, check=False)

    def ensure_volume(self) -> None:
        """A volume the prometheus-data claim binds or has bound (no provisioner here):
        a claim deleted with ``destroy.k8s --volumes`` leaves its volume Released."""
        claim = self.cluster.get_optional("pvc", "prometheus-data", "-n", MONITORING)
        if claim and claim.get("status", {}).get("phase") == "Bound":
            return
        volumes = self.cluster.get("pv", "-l", "promkit.test/volume=e2e")["items"]
        if not any(v.get("status", {}).get("phase") == "Available" for v in volumes):
            self.cluster.add_volumes(1)

    def ensure_deployed(self) -> None:
        """The overlay deployed (``deploy.k8s`` if the cluster differs from it), every
        Deployment rolled out and the Prometheus pod Ready."""
        self.ensure_volume()
        diff = self.cluster.kubectl("diff", "-k", str(self.kustomization), check=False)
        if diff.exit_code != 0:
            print(f"[deployed] the cluster differs from the overlay: deploying\n{diff}")
            self.ok("deploy.k8s", "--context", self.context)
        for namespace in (MONITORING, SAMPLE):
            for item in self.cluster.get("deployments", "-n", namespace)["items"]:
                name = item["metadata"]["name"]
                self.cluster.kubectl(
                    "rollout", "status", f"deployment/{name}", "-n", namespace,
                    "--timeout=180s", timeout=200,
                )  # fmt: skip
        self.wait_prometheus_ready()

    def wait_prometheus_ready(
        self, not_uid: str | None = None, timeout: float = 120
    ) -> dict[str, Any]:
        """The Prometheus pod once the kubelet reports it Ready (another than ``not_uid``)."""

        def ready() -> dict[str, Any] | None:
            pods = [
                p
                for p in self.pods(MONITORING, "app=prometheus")
                if "deletionTimestamp" not in p["metadata"]
            ]
            if len(pods) == 1 and pods[0]["metadata"]["uid"] != not_uid and is_ready(pods[0]):
                return pods[0]
            return None

        return wait_for("the Prometheus pod Ready", ready, timeout, every=0.5)


@pytest.fixture(scope="module")
def stack(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return Stack(cluster, tmp_path_factory.mktemp("promkit-k8s"))


@pytest.fixture
def deployed(stack: Stack) -> None:
    """The stack as the overlay says, rolled out: what a test starts from."""
    stack.ensure_deployed()


def test_deploy_then_verify_all_on_one_command_line(stack: Stack) -> None:
    stack.ensure_volume()  # deploying is what this test does
    traffic = threading.Thread(target=stack.cluster.post_traffic, args=(60.0,))
    traffic.start()
    report = stack.workdir / "all.json"
    try:
        args = ("deploy.k8s", "verify.all", "--context", stack.context, "--wait", WAIT)
        done = stack.inv(*args, "--json", str(report), settings=TUNNEL_BUDGET)
    finally:
        traffic.join()
    assert done.returncode == 0, f"deploy.k8s verify.all exited {done.returncode}:\n{done.output}"
    results = {r["name"]: r for r in json.loads(report.read_text())["results"]}
    assert all(r["ok"] for r in results.values()), done.stdout
    # The ConfigMap's rules: loaded and evaluating, their selectors matching, the Watchdog.
    assert {"rules", "rule selectors", "watchdog", "discovery"} <= set(results), sorted(results)
    assert f"[port-forward] kubectl --context {stack.context} port-forward" in done.stdout
    # The pod runs Prometheus 3.16 with its UI compiled in.
    assert "Prometheus 3.16.0 at http://127.0.0.1:" in done.stdout
    assert results["ui"]["evidence"][0].startswith("UI landing page (/query) 200"), done.stdout


@pytest.mark.usefixtures("deployed")
def test_the_kubelet_started_prometheus_and_its_probes_made_it_ready(stack: Stack) -> None:
    pod = stack.prometheus_pod()
    name = pod["metadata"]["name"]
    events = stack.cluster.events(MONITORING, name)
    print(f"kubelet events of pod {MONITORING}/{name}:")
    for event in events:
        source = event["source"].get("component", "")
        print(f"  {event['type']:8} {event['reason']:12} {source}: {event['message']}")
    by_kubelet = {e["reason"] for e in events if e["source"].get("component") == "kubelet"}
    assert {"Pulled", "Created", "Started"} <= by_kubelet, events
    container = pod["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    statuses = pod["status"]["containerStatuses"]
    ready = f"{sum(s['ready'] for s in statuses)}/{len(statuses)}"
    restarts, node = statuses[0]["restartCount"], pod["spec"]["nodeName"]
    print(f"pod {name}: {ready} Ready (kubelet), restarts {restarts}, node {node}")
    assert ready == "1/1" and is_ready(pod) and statuses[0]["restartCount"] == 0
    assert pod["spec"]["nodeName"] == stack.cluster.node.name

    def probes_succeeded() -> dict[str, float] | None:
        counts = probe_counts(stack, name)
        return counts if counts.get("Readiness", 0) > 0 and counts.get("Liveness", 0) > 0 else None

    # The kubelet's own count of the probes it ran on the pod (liveness starts after 30s).
    counts = wait_for("a successful liveness probe", probes_succeeded, 60, every=2)
    print(f"kubelet prober_probe_total (successful) for {name}: {counts}")


def probe_counts(stack: Stack, pod: str) -> dict[str, float]:
    """Successful probes of ``pod`` by type, from the kubelet's /metrics/probes."""
    text = str(
        stack.cluster.kubectl(
            "get", "--raw", f"/api/v1/nodes/{stack.cluster.node.name}/proxy/metrics/probes"
        )
    )
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if (
            line.startswith("prober_probe_total{")
            and f'pod="{pod}"' in line
            and 'result="successful"' in line
        ):
            kind = line.split('probe_type="', 1)[1].split('"', 1)[0]
            counts[kind] = counts.get(kind, 0) + float(line.rsplit(" ", 1)[1])
    return counts


@pytest.mark.usefixtures("deployed")
def test_one_target_per_annotated_pod_with_namespace_and_pod_labels(stack: Stack) -> None:
    def annotated() -> set[str]:
        pods = stack.cluster.get("pods", "-n", SAMPLE)["items"]
        return {
            p["metadata"]["name"]
            for p in pods
            if p["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true"
        }

    def all_up() -> bool | None:
        found = stack.targets()
        pods = sorted(t["labels"]["pod"] for t in found)
        up = all(t["health"] == "up" for t in found)
        return True if pods == sorted(annotated()) and up else None

    # Right after a deploy (or a scale-down) Prometheus may not have caught up yet.
    with suppress(WaitTimeout):
        wait_for("a target UP per annotated pod", all_up, 60, every=2)
    targets = stack.targets()
    assert sorted(t["labels"]["pod"] for t in targets) == sorted(annotated())
    assert {t["labels"]["namespace"] for t in targets} == {SAMPLE}
    assert {t["labels"]["app"] for t in targets} == {"fastapi-app", "celery-workers"}
    assert all(t["health"] == "up" for t in targets), targets


@pytest.mark.usefixtures("deployed")
def test_pods_reach_services_by_name_through_cluster_dns_and_kube_proxy(stack: Stack) -> None:
    services = {
        name: stack.cluster.get("service", name, "-n", namespace)["spec"]["clusterIP"]
        for name, namespace in (("redis", SAMPLE), ("prometheus", MONITORING))
    }
    resolve = (
        "import socket; "
        "print(socket.gethostbyname('redis.promkit-sample.svc.cluster.local')); "
        "print(socket.gethostbyname('prometheus.monitoring.svc'))"
    )
    done = stack.exec(SAMPLE, "deploy/fastapi-app", "python", "-c", resolve)
    print(f"cluster DNS, from the app pod: {str(done).split()} (ClusterIPs {services})")
    assert str(done).split() == [services["redis"], services["prometheus"]], done.stderr
    # The Service's ClusterIP, through kube-proxy, from a pod the NetworkPolicy admits.
    url = "http://prometheus.monitoring.svc:9090"
    done = stack.exec(
        MONITORING, "deploy/prometheus", "promtool", "check", "healthy", f"--url={url}"
    )
    print(f"promtool check healthy --url={url}, from the Prometheus pod: {done.stderr!r}")
    said = str(done) + done.stderr.decode()  # promtool reports on stderr
    assert done.exit_code == 0 and "SUCCESS:  Prometheus Server is Healthy" in said, said
    # The app reaches Redis by the name in its REDIS_URL (redis://redis:6379/0).
    app = stack.pods(SAMPLE, "app=fastapi-app")[0]
    health = get(f"http://{app['status']['podIP']}:8000/health").json()
    assert health["redis"] == "up", health


@pytest.mark.usefixtures("deployed")
def test_prometheus_runs_as_nobody_on_a_read_only_root_filesystem(stack: Stack) -> None:
    target = f"pod/{stack.prometheus_pod()['metadata']['name']}"
    done = stack.exec(MONITORING, target, "sh", "-c", "id -u; id -g; touch /etc/promkit-write-test")
    print(f"write outside /prometheus: exit {done.exit_code}: {done}{done.stderr.decode()}")
    assert str(done).split() == ["65534", "65534"]
    assert done.exit_code != 0 and "Read-only file system" in done.stderr.decode()
    done = stack.exec(
        MONITORING, target, "sh", "-c", "touch /prometheus/w && rm /prometheus/w && echo ok"
    )
    assert str(done).strip() == "ok", done.stderr


@pytest.mark.usefixtures("deployed")
@pytest.mark.parametrize("replicas", [3, 2, 1])
def test_scaling_the_app_is_followed_target_for_target(stack: Stack, replicas: int) -> None:
    app = stack.cluster.get("deployment", "fastapi-app", "-n", SAMPLE)
    scale = ("scale", "deployment", "fastapi-app", "-n", SAMPLE)
    stack.cluster.kubectl(*scale, f"--replicas={replicas}")
    try:
        settings = {"k8s": {"expect_jobs": {JOB: f"={replicas + 1}", "prometheus": 1}}}
        done = stack.inv(
            "verify.targets", "--context", stack.context, "--wait", "60", settings=settings
        )
        assert done.returncode == 0, done.output
        assert f"job {JOB} has {replicas + 1} active targets" in done.stdout
        done = stack.inv("verify.discovery", "--context", stack.context, "--wait", "60")
        assert done.returncode == 0, done.output
        expected = f"{replicas + 1} annotated pods, {replicas + 1} active targets of job {JOB}"
        assert expected in done.stdout
    finally:
        stack.cluster.kubectl(*scale, f"--replicas={app['spec']['replicas']}")


METRICS = r"""
import http.server, sys
port, path = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == path
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(b"scenario_up 1\n" if ok else b"")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
"""


def metrics_container(name: str, image: str, port: int, path: str) -> dict[str, Any]:
    """A container serving ``scenario_up 1`` on ``port`` at ``path`` (404 elsewhere)."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python", "-c", METRICS, str(port), path],
        "ports": [{"containerPort": port}],
    }


def scenario_deployment(
    name: str,
    image: str,
    annotations: dict[str, str],
    *,
    namespace: str = EXTRA,
    sidecars: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    labels = {"app": name}
    containers = [metrics_container("m", image, 9123, "/custom/metrics"), *sidecars]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": containers, "terminationGracePeriodSeconds": 1},
            },
        },
    }


@pytest.mark.usefixtures("deployed")
def test_annotations_decide_what_is_scraped_and_where(stack: Stack) -> None:
    image = stack.cluster.images["promkit/sample-app"]
    stack.cluster.kubectl("create", "namespace", EXTRA)
    try:
        stack.cluster.apply(
            scenario_deployment(
                "custom",
                image,
                {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": "9123",
                    "prometheus.io/path": "/custom/metrics",
                },
            ),
            scenario_deployment("unannotated", image, {}),
            scenario_deployment(
                "opted-out", image, {"prometheus.io/scrape": "false", "prometheus.io/port": "9123"}
            ),
        )

        def custom_up() -> list[dict[str, Any]] | None:
            found = [t for t in stack.targets() if t["labels"]["namespace"] == EXTRA]
            return found if found and all(t["health"] == "up" for t in found) else None

        found = wait_for("the custom target UP", custom_up, 60, every=2)
        assert [t["labels"]["app"] for t in found] == ["custom"]
        assert found[0]["scrapeUrl"].endswith(":9123/custom/metrics")
        running = [p for p in stack.pods(EXTRA, "app") if p["status"].get("phase") == "Running"]
        assert len(running) == 3, "all three scenario pods run; only one is scraped"
    finally:
        stack.cluster.kubectl("delete", "namespace", EXTRA, "--wait=true", timeout=120, check=False)


@pytest.mark.usefixtures("deployed")
def test_verify_discovery_names_a_wrong_port_and_scrapes_a_two_container_pod_once(
    stack: Stack,
) -> None:
    image, namespace = stack.cluster.images["promkit/sample-app"], "discovery"
    annotated = {"prometheus.io/scrape": "true", "prometheus.io/path": "/custom/metrics"}
    stack.cluster.kubectl("create", "namespace", namespace)
    try:
        stack.cluster.apply(
            scenario_deployment(
                "wrong-port",
                image,
                {**annotated, "prometheus.io/port": "9999"},
                namespace=namespace,
            ),
            scenario_deployment(
                "sidecar",
                image,
                {**annotated, "prometheus.io/port": "9123"},
                namespace=namespace,
                sidecars=(metrics_container("side", image, 9124, "/custom/metrics"),),
            ),
        )

        wrong = re.compile(
            rf"pod {namespace}/wrong-port-\S+ is MISSING: prometheus.io/port 9999 names no "
            r"container port \(declared: 9123\)"
        )
        once = re.compile(rf"pod {namespace}/sidecar-\S+: one target http://\S+:9123/custom")

        def reported() -> Completed | None:
            # Until Prometheus has discovered the new pods, they are reported MISSING.
            done = stack.inv("verify.discovery", "--context", stack.context)
            return done if done.returncode == 1 and once.search(done.stdout) else None

        out = wait_for("verify.discovery judging both pods", reported, 90, every=3).stdout
        assert wrong.search(out), out
        assert "DUPLICATED" not in out and "STALE" not in out, out
    finally:
        stack.cluster.kubectl("delete", "namespace", namespace, "--wait=true", timeout=120)
    # The scenario's targets go with its pods: green again, nothing stale.
    done = stack.inv("verify.discovery", "--context", stack.context, "--wait", "60")
    assert done.returncode == 0, done.output


@pytest.mark.usefixtures("deployed")
def test_data_on_the_claim_survives_deleting_the_pod(stack: Stack) -> None:
    url = stack.prometheus_url()

    def stored() -> bool | None:
        answer = get(f"{url}/api/v1/query", params={"query": "up"}).json()
        return True if answer["data"]["result"] else None

    # Something to survive: a Prometheus deployed moments ago may not have scraped yet.
    wait_for("the old Prometheus storing a first scrape", stored, 60, every=2)
    old = stack.prometheus_pod()["metadata"]["uid"]
    stack.cluster.kubectl(
        "delete", "pod", "-n", MONITORING, "-l", "app=prometheus", "--wait=true", timeout=120
    )
    stack.wait_prometheus_ready(not_uid=old)
    done = stack.inv("verify.persistence", "--context", stack.context, "--wait", "60")
    assert done.returncode == 0, done.output
    assert "older than this server's start" in done.stdout


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


@pytest.mark.usefixtures("deployed")
def test_config_change_rolls_prometheus_and_verify_sees_it(stack: Stack) -> None:
    before, old = configmap_names(stack), stack.prometheus_pod()["metadata"]["uid"]
    overlay = stack.cluster.overlay(k8s_tree_with_interval(stack, "30s"), name="overlay-30s")
    changed = {"k8s": {"kustomization": str(overlay)}}
    try:
        stack.ok("deploy.k8s", "--context", stack.context, settings=changed)
        assert configmap_names(stack) - before, "a new hash-named ConfigMap"
        stack.wait_prometheus_ready(not_uid=old)
        done = stack.inv("verify.interval", "--context", stack.context)
        assert done.returncode == 1, done.output
        # The served interval is named against the expected one: a wrong one fails here.
        wrong = "global scrape_interval is 30s, expected 15s: set global.scrape_interval"
        assert wrong in done.stdout, done.output
        old = stack.prometheus_pod()["metadata"]["uid"]
    finally:
        stack.ok("deploy.k8s", "--context", stack.context)
    stack.wait_prometheus_ready(not_uid=old)
    stack.ok("verify.interval", "--context", stack.context, "--wait", "30")


def drift_lines(done: Completed) -> list[str]:
    """What verify.drift printed, less the port-forward it announces first."""
    return [line for line in done.stdout.splitlines() if not line.startswith("[port-forward]")]


@pytest.mark.usefixtures("deployed")
def test_verify_drift_matches_the_deploy_and_names_args_patched_on_the_cluster(
    stack: Stack,
) -> None:
    done = stack.ok("verify.drift", "--context", stack.context)
    (verdict,) = drift_lines(done)
    assert verdict.startswith(f"server matches {stack.kustomization} (ConfigMap "), verdict
    assert verdict.endswith("; Deployment monitoring/prometheus args)"), verdict
    old = stack.prometheus_pod()["metadata"]["uid"]
    args = stack.prometheus_pod()["spec"]["containers"][0]["args"]
    index = args.index("--storage.tsdb.retention.time=30d")
    patch = [
        {
            "op": "replace",
            "path": f"/spec/template/spec/containers/0/args/{index}",
            "value": "--storage.tsdb.retention.time=15d",
        }
    ]
    patched = ("patch", "deployment", "prometheus", "-n", MONITORING, "--type=json")
    stack.cluster.kubectl(*patched, "-p", json.dumps(patch))
    try:
        stack.wait_prometheus_ready(not_uid=old)
        done = stack.inv("verify.drift", "--context", stack.context)
        assert done.returncode == 1, done.output
        assert drift_lines(done) == ["--storage.tsdb.retention.time: repo 30d, server 15d"]
        old = stack.prometheus_pod()["metadata"]["uid"]
    finally:
        stack.ok("deploy.k8s", "--context", stack.context)
    stack.wait_prometheus_ready(not_uid=old)
    stack.ok("verify.drift", "--context", stack.context)


@pytest.mark.usefixtures("deployed")
def test_without_its_binding_prometheus_discovers_nothing_and_verify_says_rbac(
    stack: Stack, tmp_path: Path
) -> None:
    stack.cluster.kubectl("delete", "clusterrolebinding", "promkit-prometheus")
    try:
        denial_is_reported(stack, tmp_path)
    finally:
        stack.ok("deploy.k8s", "--context", stack.context)
    done = stack.inv("verify.targets", "--context", stack.context, "--wait", "120")
    assert done.returncode == 0, done.output


def denial_is_reported(stack: Stack, tmp_path: Path) -> None:
    """With the binding gone, a new Prometheus pod is denied and verify says RBAC."""
    # A running Prometheus keeps its authorised watch; a new pod meets the denial.
    old = stack.prometheus_pod()["metadata"]["uid"]
    stack.cluster.kubectl("rollout", "restart", "deployment/prometheus", "-n", MONITORING)
    pod = stack.wait_prometheus_ready(not_uid=old)

    def denied() -> Completed | None:
        done = stack.inv("verify.targets", "--context", stack.context)
        return done if done.returncode == 1 and "nothing was discovered" in done.stdout else None

    out = wait_for("verify.targets reporting nothing discovered", denied, 60, every=3).stdout
    assert "RBAC" in out and JOB in out
    done = stack.inv("verify.discovery", "--context", stack.context)
    assert done.returncode == 1, done.output
    assert re.search(
        rf"pod {SAMPLE}/fastapi-app-\S+ is MISSING: Prometheus has not discovered it: may its "
        rf"ServiceAccount list pods in namespace {SAMPLE} \(RBAC\)\?",
        done.stdout,
    ), done.stdout
    logs = str(stack.cluster.kubectl("logs", "-n", MONITORING, pod["metadata"]["name"]))
    assert "forbidden" in logs
    # The evidence report of the failed round carries the pod's events and the denial.
    done = stack.inv("verify.targets", "--context", stack.context, "--report", str(tmp_path))
    assert done.returncode == 1, done.output
    name = f"pod-{MONITORING}-{pod['metadata']['name']}"
    assert "forbidden" in (tmp_path / f"logs/log-of-{name}.log").read_text()
    assert (tmp_path / f"logs/events-of-{name}.log").read_text().strip()
    assert (
        f"log of pod {MONITORING}/{pod['metadata']['name']}"
        in (tmp_path / "index.html").read_text()
    )


@pytest.mark.usefixtures("deployed")
def test_a_prometheus_that_cannot_start_fails_the_deploy_with_its_events_and_logs(
    stack: Stack,
) -> None:
    # The data folder on the read-only config volume: Prometheus cannot write and exits.
    unwritable = {
        "target": {"kind": "Deployment", "name": "prometheus"},
        "patch": json.dumps(
            [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/args/1",
                    "value": "--storage.tsdb.path=/etc/prometheus/data",
                }
            ]
        ),
    }
    broken = stack.cluster.overlay(REPO / "k8s", name="overlay-unwritable", patches=[unwritable])
    settings = {"k8s": {"kustomization": str(broken), "rollout_timeout": 45}}
    try:
        done = stack.inv("deploy.k8s", "--context", stack.context, settings=settings)
        assert done.returncode != 0, done.output
        crashing = next(p for p in stack.pods(MONITORING, "app=prometheus") if not is_ready(p))
        pod = crashing["metadata"]["name"]
        assert f"--- events of pod {MONITORING}/{pod}" in done.stdout
        assert "BackOff" in done.stdout or "Back-off restarting failed container" in done.stdout
        assert f"log lines of pod {MONITORING}/{pod}" in done.stdout
        assert "/etc/prometheus/data" in done.stdout, "the container's own error is shown"
        assert "Traceback" not in done.stderr
    finally:
        stack.ok("deploy.k8s", "--context", stack.context)
    stack.wait_prometheus_ready()


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


@pytest.mark.usefixtures("deployed")
def test_verify_discovery_bad_input_is_one_line_and_exit_2(stack: Stack) -> None:
    wrong_job = stack.inv(
        "verify.discovery", "--context", stack.context, settings={"k8s": {"discovery_job": "nope"}}
    )
    assert wrong_job.returncode == 2, wrong_job.output
    assert "Prometheus has no pod-discovery job 'nope'" in wrong_job.stderr
    assert "set k8s.discovery_job" in wrong_job.stderr and "Traceback" not in wrong_job.stderr
    # A context that may port-forward to Prometheus but not list pods cluster-wide.
    limited = limited_kubeconfig(stack)
    env = {**os.environ, "KUBECONFIG": str(limited)}
    done = inv("verify.discovery", "--context", "limited", cwd=REPO, env=env, timeout=120)
    stderr = done.stderr
    print(f"$ inv verify.discovery --context limited -> {done.returncode}\n{stderr}")
    assert done.returncode == 2, stderr
    assert "context limited may not list pods,deployments,statefulsets,daemonsets" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


def limited_kubeconfig(stack: Stack) -> Path:
    """A kubeconfig whose context ``limited`` may only port-forward to Prometheus."""
    namespace, name = MONITORING, "promkit-test-limited"
    rules = [
        {"apiGroups": [""], "resources": ["services", "pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create", "get"]},
    ]
    stack.cluster.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": name, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": name, "namespace": namespace}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": name, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    )  # fmt: skip
    token = str(stack.cluster.kubectl("create", "token", name, "-n", namespace)).strip()
    path = stack.workdir / "limited-kubeconfig"
    shutil.copy(stack.cluster.kubeconfig, path)
    cluster = str(stack.cluster.kubectl("config", "view", "--minify", "-o",
                                        "jsonpath={.clusters[0].name}")).strip()  # fmt: skip
    config = sh.kubectl.bake(f"--kubeconfig={path}")
    config("config", "set-credentials", "limited", f"--token={token}")
    config("config", "set-context", "limited", f"--cluster={cluster}", "--user=limited")
    return path


@pytest.mark.usefixtures("deployed")
def test_second_deploy_changes_nothing_and_no_context_refuses(stack: Stack) -> None:
    before = promkit_objects(stack)
    assert before
    stack.ok("deploy.k8s", "--context", stack.context)
    assert promkit_objects(stack) == before
    refused = stack.inv("deploy.k8s")
    assert refused.returncode == 2
    assert "no Kubernetes context given: pass --context" in refused.output
    assert "Traceback" not in refused.stderr


@pytest.mark.usefixtures("deployed")
def test_destroy_with_volumes_leaves_nothing(stack: Stack) -> None:
    done = stack.inv("destroy.k8s", "--context", stack.context, "--volumes")
    assert done.returncode == 0, done.output
    assert promkit_objects(stack) == {}
    names = {i["metadata"]["name"] for i in stack.cluster.get("namespaces")["items"]}
    assert not names & {SAMPLE, MONITORING}
