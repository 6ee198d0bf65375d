"""The log lines that explain a failed verification, for the ``--report`` folder.

Compose: the last lines of each service involved (Prometheus, the services behind
failing targets, unhealthy ones). Kubernetes: the events and last log lines of each
pod involved (Prometheus' pods, the pods behind failing targets, pods not ready).
Which ones are involved is decided by the pure functions here, from the round's own
answers; the collecting goes through promkit.compose and promkit.kube.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from invoke.context import Context

from promkit import checks, compose, kube, settings
from promkit.errors import PromkitError

if TYPE_CHECKING:
    from promkit.evidence import FailureLogs
    from promkit.verify import Verification

PROMETHEUS_SERVICE = "prometheus"


def _host(instance: str) -> str:
    """``app:8000`` -> ``app``; ``[fd00::1]:9090`` -> ``fd00::1``."""
    host = instance.rsplit(":", 1)[0] if ":" in instance else instance
    return host.strip("[]")


def failing_target_hosts(outcome: Verification) -> set[str]:
    """Hosts of the targets the round saw failing; every target's when a query failed.

    A documented query without data is explained by the services it reads from.
    """
    targets = outcome.payloads.get("targets")
    if not isinstance(targets, Mapping):
        return set()
    found = checks.active_targets(targets)
    queries_failed = any(not r.ok and r.name.startswith("query: ") for r in outcome.results)
    return {_host(t.instance) for t in found if queries_failed or t.health != "up" or t.last_error}


def involved_services(outcome: Verification, states: Sequence[compose.ServiceState]) -> list[str]:
    """The compose services whose logs explain ``outcome``'s failures, in the stack's order."""
    hosts = failing_target_hosts(outcome)
    return [
        s.service
        for s in states
        if s.service == PROMETHEUS_SERVICE or s.service in hosts or not s.healthy
    ]


def compose_logs(c: Context, config: Any) -> FailureLogs:
    """Collects the log tails of the compose services involved in a failed round.

    Only when the verified URL is the local stack's (setting prometheus.url) and the
    stack has containers: verifying another server collects nothing.
    """

    def collect(outcome: Verification) -> dict[str, str]:
        loaded = settings.load(config)
        if outcome.url != loaded.prometheus.url:
            return {}
        try:
            project = compose.Project.from_config(config)
            states = compose.ps(c, project)
        except PromkitError:
            return {}
        lines = loaded.report.log_lines
        return {
            f"compose service {name}": compose.logs_tail(c, project, name, lines)
            or "(no log lines)"
            for name in involved_services(outcome, states)
        }

    return collect


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
