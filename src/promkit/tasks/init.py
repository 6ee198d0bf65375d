"""init: write ./promkit.yaml from a running Prometheus, for verify.* to hold it to."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from promkit.tasks.common import context_on_command_line, reports_errors


@task(
    help={
        "url": "the Prometheus base URL to read (default: setting prometheus.url)",
        "context": "read the Prometheus of this Kubernetes context (a port-forward to "
        "svc/prometheus unless --url is given); its jobs become k8s.expect_jobs",
    }
)
@reports_errors
def init(c: Context, url: str | None = None, context: str | None = None) -> None:
    """Write ./promkit.yaml and a guide stub from the running server (never overwrites)."""
    from promkit.report import init as initializing

    initializing.init(c, url, context or context_on_command_line())
