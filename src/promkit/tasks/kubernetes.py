"""Kubernetes tasks: deploy.k8s, destroy.k8s, check.manifests and k8s.port-forward.

Every task that touches a cluster needs an explicit context (``--context`` or the
setting k8s.context): promkit never uses kubectl's current context on its own.
The work is promkit.k8s.stack's; these only wire flags to it.
"""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from promkit.core import settings
from promkit.tasks.common import context_on_command_line, reports_errors

_CONTEXT_HELP = "kubeconfig context to use (setting k8s.context); required"


def _context(c: Context, context: str | None) -> str:
    from promkit.k8s import kubectl as kube

    given = context or settings.load(c.config).k8s.context or context_on_command_line()
    return kube.require_context(c, given)


@task(
    help={
        "context": _CONTEXT_HELP,
        "dry-run": "validate and dry-run on the server (read-only), then print the commands "
        "that would change something",
        "timeout": "seconds to wait for every rollout (k8s.rollout_timeout)",
    }
)
@reports_errors
def deploy(
    c: Context, context: str | None = None, dry_run: bool = False, timeout: str | None = None
) -> None:
    """Validate k8s/, then apply it with kubectl and wait until every Deployment is ready."""
    from promkit.k8s import stack as k8s_stack

    plan = k8s_stack.validate(c, c.config, _context(c, context), timeout=timeout)
    print(f"validated {plan.checked.kustomization}: {len(plan.checked.objects)} objects")
    k8s_stack.up(c, plan, dry_run=dry_run)
    if not dry_run:
        name = plan.context
        print(
            f"deployed to context {name}: reach Prometheus with `inv k8s.port-forward "
            f"--context {name}`"
        )


@task(
    help={
        "context": _CONTEXT_HELP,
        "volumes": "also delete the Prometheus data (its PersistentVolumeClaim and namespace)",
        "dry-run": "print the commands without running them",
    }
)
@reports_errors
def destroy(
    c: Context, context: str | None = None, volumes: bool = False, dry_run: bool = False
) -> None:
    """Delete what deploy.k8s created and wait until it is gone; the data stays unless --volumes."""
    from promkit.k8s import stack as k8s_stack

    teardown = k8s_stack.plan_teardown(c, c.config, _context(c, context), volumes=volumes)
    k8s_stack.down(c, teardown, dry_run=dry_run)


@task
@reports_errors
def manifests(c: Context) -> None:
    """Check k8s/ offline: render, Kubernetes schemas, promtool, hardening rules."""
    from promkit.k8s import manifests as checks

    checked = checks.validate(c, c.config)
    version = settings.load(c.config).k8s.kubernetes_version
    print(
        f"{checked.kustomization}: {len(checked.objects)} objects pass the Kubernetes {version} "
        "schemas, promtool and the hardening rules"
    )


@task(help={"context": _CONTEXT_HELP})
@reports_errors
def port_forward(c: Context, context: str | None = None) -> None:
    """Forward a free local port to the Prometheus Service until Ctrl-C; print its URL."""
    from promkit.k8s import stack as k8s_stack

    forward = k8s_stack.start_port_forward(c.config, _context(c, context))
    print(f"Prometheus UI and API: {forward.url} (Ctrl-C stops)")
    k8s_stack.hold_port_forward(forward)
