"""Kubernetes tasks: deploy.k8s, destroy.k8s, check.manifests and k8s.port-forward.

Every task that touches a cluster needs an explicit context (``--context`` or the
setting k8s.context): promkit never uses kubectl's current context on its own.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from invoke.context import Context
from invoke.tasks import task

from promkit import runner
from promkit.errors import PromkitError
from promkit.settings import as_float, section
from promkit.tasks.common import context_on_command_line, reports_errors

if TYPE_CHECKING:
    from promkit.manifests import Checked, Workload

_CONTEXT_HELP = "kubeconfig context to use (setting k8s.context); required"


def _context(c: Context, context: str | None) -> str:
    from promkit import kube

    given = context or section(c.config, "k8s").get("context") or context_on_command_line()
    return kube.require_context(c, given)


def _seconds(value: Any, key: str) -> float:
    return as_float(value, key, minimum=1)


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
    from promkit import kube, manifests

    settings = section(c.config, "k8s")
    name = _context(c, context)
    wait = _seconds(timeout or settings.get("rollout_timeout"), "k8s.rollout_timeout")
    checked = manifests.validate(c, c.config)
    print(f"validated {checked.kustomization}: {len(checked.objects)} objects")
    server_checked = _create_namespaces_then_dry_run(c, name, checked, dry_run=dry_run)
    if server_checked:
        print("the API server accepts every object (server-side dry run)")
    kube.apply(c, name, checked.kustomization, dry_run=dry_run)
    if dry_run:
        for workload in manifests.deployments(checked.objects):
            kube.rollout_status(c, name, workload.namespace, workload.name, wait, dry_run=True)
        return
    _wait_for_rollouts(c, name, manifests.deployments(checked.objects), wait)
    print(
        f"deployed to context {name}: reach Prometheus with `inv k8s.port-forward --context {name}`"
    )


def _create_namespaces_then_dry_run(
    c: Context, context: str, checked: Checked, *, dry_run: bool
) -> bool:
    """Create missing namespaces (the server cannot dry-run objects in them otherwise).

    Returns whether the server-side dry run ran: under ``dry_run`` it is skipped when
    a namespace is missing, since nothing may be created then.
    """
    from promkit import kube, manifests

    wanted = manifests.namespaces(checked.objects)
    existing = kube.existing_namespaces(c, context, wanted)
    missing = [ns for ns in wanted if ns not in existing]
    if missing:
        with tempfile.TemporaryDirectory(prefix="promkit-k8s-") as folder:
            path = Path(folder) / "namespaces.yaml"
            path.write_text(yaml.safe_dump_all(_namespace_objects(checked, missing)))
            kube.apply_file(c, context, path, dry_run=dry_run)
    if dry_run and missing:
        print(
            f"skipped the server-side dry run: namespace(s) {', '.join(missing)} do not exist yet"
        )
        return False
    kube.server_dry_run(c, context, checked.kustomization)
    return True


def _namespace_objects(checked: Checked, names: list[str]) -> list[dict[str, Any]]:
    return [
        obj
        for obj in checked.objects
        if obj.get("kind") == "Namespace" and obj["metadata"]["name"] in names
    ]


def _wait_for_rollouts(c: Context, context: str, workloads: list[Workload], timeout: float) -> None:
    """Wait for each rollout within one overall deadline; explain the first that fails."""
    from promkit import kube

    deadline = time.monotonic() + timeout
    for workload in workloads:
        remaining = max(1.0, deadline - time.monotonic())
        done = kube.rollout_status(c, context, workload.namespace, workload.name, remaining)
        if done.ok:
            print(f"deployment {workload.namespace}/{workload.name} is ready")
            continue
        failing = kube.failing_pods_report(c, context, workload.namespace, workload.selector)
        pods = ", ".join(f"{p.name} ({p.phase} {p.reason})".replace(" )", ")") for p in failing)
        raise PromkitError(
            f"deployment {workload.namespace}/{workload.name} was not ready within {timeout:g}s: "
            f"{pods or runner.last_line(done.stderr) or 'no pods'}; see the events and log "
            f"lines above, and docs/operations/prometheus-setup.md#troubleshooting"
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
    from promkit import kube, manifests

    settings = section(c.config, "k8s")
    name = _context(c, context)
    wait = _seconds(settings.get("rollout_timeout"), "k8s.rollout_timeout")
    objects = manifests.render(c, manifests.kustomization_dir(c.config))
    kept = [] if volumes else manifests.volume_namespaces(objects)
    types = manifests.resource_types(objects, volumes=volumes)
    kube.delete_labelled(c, name, types, timeout=wait, dry_run=dry_run)
    doomed = [ns for ns in manifests.namespaces(objects) if ns not in kept]
    kube.delete_namespaces(c, name, doomed, timeout=wait, dry_run=dry_run)
    if kept:
        print(
            f"kept the Prometheus data: namespace(s) {', '.join(kept)} and their "
            "PersistentVolumeClaim (pass --volumes to delete them)"
        )


@task
@reports_errors
def manifests(c: Context) -> None:
    """Check k8s/ offline: render, Kubernetes schemas, promtool, hardening rules."""
    from promkit import manifests as checks

    checked = checks.validate(c, c.config)
    version = section(c.config, "k8s").get("kubernetes_version")
    print(
        f"{checked.kustomization}: {len(checked.objects)} objects pass the Kubernetes {version} "
        "schemas, promtool and the hardening rules"
    )


@task(help={"context": _CONTEXT_HELP})
@reports_errors
def port_forward(c: Context, context: str | None = None) -> None:
    """Forward a free local port to the Prometheus Service until Ctrl-C; print its URL."""
    from promkit import kube

    settings = section(c.config, "k8s")
    name = _context(c, context)
    forward = kube.start_port_forward(
        name,
        str(settings.get("namespace")),
        timeout=_seconds(settings.get("port_forward_timeout"), "k8s.port_forward_timeout"),
    )
    print(f"Prometheus UI and API: {forward.url} (Ctrl-C stops)")
    try:
        while forward.running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        return
    finally:
        forward.stop()
    raise PromkitError(
        f"`{forward.command}` stopped: {runner.last_line(forward.error_output) or 'no output'}"
    )
