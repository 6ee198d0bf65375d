"""The events and log lines of the pods behind a failed round (the report's logs/)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from invoke.context import Context

from promkit.core import settings
from promkit.k8s import kubectl as kube
from promkit.verify.checks import failing_target_hosts
from promkit.verify.result import FailureLogs, Verification


def involved_pods(
    outcome: Verification, pods: Iterable[tuple[str, kube.PodState]], prometheus_namespace: str
) -> list[tuple[str, kube.PodState]]:
    """(namespace, pod) pairs explaining a failure: Prometheus', failing targets', unready."""
    hosts = failing_target_hosts(outcome)
    return [
        (namespace, pod)
        for namespace, pod in pods
        if namespace == prometheus_namespace or (pod.ip and pod.ip in hosts) or not pod.ready
    ]


def kube_logs(c: Context, config: Any, context: str) -> FailureLogs:
    """Collects the events and log tails of the pods involved in a failed round."""

    def collect(outcome: Verification) -> dict[str, str]:
        loaded = settings.load(config)
        k8s, lines = loaded.k8s, loaded.report.log_lines
        found = [
            (namespace, pod)
            for namespace in dict.fromkeys((k8s.namespace, k8s.app_namespace))
            for pod in kube.pods(c, context, namespace, kube.PART_OF)
        ]
        logs = {}
        for namespace, pod in involved_pods(outcome, found, k8s.namespace):
            where = f"pod {namespace}/{pod.name}"
            logs[f"events of {where}"] = kube.pod_events(c, context, namespace, pod.name)
            logs[f"log of {where}"] = kube.pod_log_tail(c, context, namespace, pod.name, lines)
        return logs

    return collect
