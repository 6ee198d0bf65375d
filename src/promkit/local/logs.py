"""The log lines that explain a failed verification, for the ``--report`` folder.

Compose: the last lines of each service involved (Prometheus, the services behind
failing targets, unhealthy ones). Kubernetes: the events and last log lines of each
pod involved (Prometheus' pods, the pods behind failing targets, pods not ready).
Which ones are involved is decided by the pure functions here, from the round's own
answers; the collecting goes through promkit.compose and promkit.kube.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from invoke.context import Context

from promkit.core import settings
from promkit.core.errors import PromkitError
from promkit.local import compose
from promkit.verify.checks import failing_target_hosts
from promkit.verify.result import FailureLogs, Verification

PROMETHEUS_SERVICE = "prometheus"
#: The alerting chain's services, and the rows (verify.alerts') their logs explain.
ALERTING_SERVICES = ("alertmanager-1", "alertmanager-2", "alert-sink")
ALERTING_ROWS = frozenset({"alertmanagers", "notification errors", "alertmanager", "delivery"})


def involved_services(outcome: Verification, states: Sequence[compose.ServiceState]) -> list[str]:
    """The compose services whose logs explain ``outcome``'s failures, in the stack's order."""
    hosts = set(failing_target_hosts(outcome))
    if any(not r.ok and r.name in ALERTING_ROWS for r in outcome.results):
        hosts |= set(ALERTING_SERVICES)
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
