"""Figure 7: `inv deploy.k8s verify.all --context` to green on a real node, against its floor.

One throwaway cluster from the e2e_k8s harness (tests/support/kube: the control plane plus a
real kubelet, containerd, kube-proxy and CoreDNS; its own bridge, folders and ports, torn
down afterwards). Each run starts with nothing of promkit's deployed (`destroy.k8s
--volumes` and a fresh volume in between) and times the user's command, with webhooks
posted to the app pods meanwhile (the documented queries need fresh samples).

The floor comes from the cluster and from Prometheus, afterwards: when the kubelet's
readiness probe made the Prometheus pod Ready (its Ready condition), when every target
had its first scrape (the first `up` sample), and when every documented query had data
(rate() needs two scrapes). No verifier can be green before all three. promkit's overhead
is its total minus that floor.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench.common import ROOT, Figure, Options, Row, goal, log, median_below, sample
from bench.fig_green import GOAL_S, first_scrapes, queries_have_data
from tests.support import Completed, inv
from tests.support.kube.harness import BUILD_SCRIPT, Cluster, KubeBinaries, NodeBinaries

#: Through the port-forward the health latency includes kubectl's and the kubelet's tunnel.
SETTINGS = {"expect": {"health_latency_ms": 250}}
TRAFFIC_S = 90.0


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "skipped: the real node needs root"
    try:
        KubeBinaries.locate()
        NodeBinaries.locate(BUILD_SCRIPT)
    except (RuntimeError, OSError) as exc:  # HarnessError is a RuntimeError
        return f"skipped: {str(exc)[:120]}"
    return None


class Run:
    """One timed deploy-to-green on the cluster."""

    def __init__(self, cluster: Cluster, settings_file: Path) -> None:
        self.cluster, self.settings_file = cluster, settings_file
        self.env = {**os.environ, **cluster.env(), "PYTHONUNBUFFERED": "1"}
        self.total = 0.0
        self.start_wall = 0.0
        self.marks: dict[str, float] = {}
        #: The command's exit code: a red run (not 0) is counted, never timed.
        self.code = 0

    def inv(self, *args: str, timeout: float = 600) -> Completed:
        return inv("-f", str(self.settings_file), *args, env=self.env, timeout=timeout)

    def timed(self) -> None:
        done = threading.Event()
        traffic = threading.Thread(target=self.cluster.post_traffic, args=(TRAFFIC_S, done))
        self.start_wall = time.time()
        started = time.perf_counter()
        traffic.start()
        try:
            result = self.inv("deploy.k8s", "verify.all", "--context", self.cluster.context,
                              "--wait", "180")  # fmt: skip
        finally:
            self.total = time.perf_counter() - started
            done.set()
            traffic.join()
        self.code = result.returncode
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-8:]
            log("figure 7: a red run, deploy.k8s verify.all was not green: " + " | ".join(tail))

    def measure_floor(self) -> None:
        pod = self._prometheus_pod()
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        at = datetime.fromisoformat(ready["lastTransitionTime"].replace("Z", "+00:00"))
        self.marks["ready"] = at.timestamp() - self.start_wall
        url = f"http://{pod['status']['podIP']}:9090"
        scrapes = first_scrapes(self.start_wall, url)
        self.marks["scraped"] = max(scrapes.values(), default=0.0)
        self.marks["queries"] = queries_have_data(self.start_wall, time.time(), url)

    @property
    def floor(self) -> float:
        return max(self.marks.values(), default=0.0)

    def _prometheus_pod(self) -> Any:
        pods = self.cluster.get("pods", "-n", "monitoring", "-l", "app=prometheus")["items"]
        return next(p for p in pods if "deletionTimestamp" not in p["metadata"])


def figure7(opts: Options) -> list[Row]:
    """The card's Kubernetes command to green on a real node, against when it could be."""
    runs = opts.green_runs
    label = "7 `inv deploy.k8s verify.all --context` on a real node vs its own floor"
    reason = skip_reason()
    if reason:
        return [Row(label, reason)]
    timelines: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="promkit-bench-k8s-") as folder:
        workdir = Path(folder)
        binaries = KubeBinaries.locate()
        node = NodeBinaries.locate(BUILD_SCRIPT)
        log("figure 7: starting a throwaway cluster with a real node")
        with Cluster(binaries, node, workdir / "cluster", name="promkit-bench") as cluster:
            settings = {**SETTINGS, "k8s": {"kustomization": str(cluster.overlay(ROOT / "k8s"))}}
            settings_file = workdir / "settings.yaml"
            settings_file.write_text(yaml.safe_dump(settings))
            for index in range(runs):
                log(f"figure 7: run {index + 1}/{runs} from nothing deployed")
                cluster.add_volumes(1)
                run = Run(cluster, settings_file)
                run.timed()
                if run.code == 0:  # a red run's pods need not be Ready: nothing to read
                    run.measure_floor()
                timelines.append(run)
                gone = run.inv("destroy.k8s", "--context", cluster.context, "--volumes")
                if gone.returncode != 0:
                    raise RuntimeError(f"destroy.k8s failed: {gone.stdout[-300:]}")
                cluster.kubectl("delete", "pv", "-l", "promkit.test/volume=e2e", "--wait=true")
    log(
        "figure 7: "
        + json.dumps([{"total": r.total, "code": r.code, **r.marks} for r in timelines])
    )
    green = [r for r in timelines if r.code == 0]
    red = len(timelines) - len(green)
    overhead = sample([r.total - r.floor for r in green], "s", red)
    return [
        Row(label, sample([r.total for r in green], "s", red),
            sample([r.floor for r in green], "s", red)),
        Row("7   Prometheus pod Ready through its readiness probe (since the start)",
            sample([r.marks["ready"] for r in green], "s")),
        Row("7   first scrape round complete (since the start)",
            sample([r.marks["scraped"] for r in green], "s")),
        Row("7   rate() has its two samples: every query has data",
            sample([r.marks["queries"] for r in green], "s")),
        Row("7 promkit's overhead: total - floor", overhead, "-",
            goal(overhead, f"< {GOAL_S:g} s", median_below(GOAL_S))),
    ]  # fmt: skip


FIGURES = (Figure("7", "the card's Kubernetes command on a real node", figure7),)
