"""Deploy, inspect and remove promkit's Kubernetes stack (the kustomization in k8s/).

The same shape as local_stack: ``validate`` checks everything offline and touches
nothing, ``up`` applies and waits for every rollout within one deadline, ``down``
deletes all but the Prometheus data unless asked. Every step names its context:
promkit never uses kubectl's current context on its own.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from invoke.context import Context

from promkit.core import console, runner
from promkit.core.console import kept_data_line
from promkit.core.deadline import Deadline
from promkit.core.errors import PromkitError
from promkit.core.settings import as_float, load
from promkit.k8s import kubectl as kube
from promkit.k8s import manifests
from promkit.k8s import port_forward as forwarding
from promkit.k8s.manifests import Checked, Workload


def seconds(value: Any, key: str) -> float:
    """A timeout setting (or its flag) as seconds, at least 1."""
    return as_float(value, key, minimum=1)


@dataclass(frozen=True)
class Plan:
    """What a deploy works on, once validated."""

    context: str
    checked: Checked
    #: Seconds every rollout together may take.
    rollout_timeout: float


def validate(c: Context, config: Any, context: str, *, timeout: str | None = None) -> Plan:
    """Check the rollout timeout and k8s/ (offline, printing each problem found)."""
    given = seconds(timeout, "--timeout") if timeout else None
    wait = given or load(config).k8s.rollout_timeout
    return Plan(context, manifests.validate(c, config), wait)


def up(c: Context, plan: Plan, *, dry_run: bool = False) -> None:
    """Create missing namespaces, dry-run on the server, apply, then wait for every rollout.

    Under ``dry_run`` the server-side dry run still runs (it is read-only) and the
    commands that would change something are printed instead.
    """
    if create_namespaces_then_dry_run(c, plan.context, plan.checked, dry_run=dry_run):
        console.say("the API server accepts every object (server-side dry run)")
    kube.apply(c, plan.context, plan.checked.kustomization, dry_run=dry_run)
    workloads = manifests.deployments(plan.checked.objects)
    wait_for_rollouts(c, plan.context, workloads, plan.rollout_timeout, dry_run=dry_run)


def create_namespaces_then_dry_run(
    c: Context, context: str, checked: Checked, *, dry_run: bool
) -> bool:
    """Create missing namespaces (the server cannot dry-run objects in them otherwise).

    Returns whether the server-side dry run ran: under ``dry_run`` it is skipped when
    a namespace is missing, since nothing may be created then.
    """
    wanted = manifests.namespaces(checked.objects)
    existing = kube.existing_namespaces(c, context, wanted)
    missing = [ns for ns in wanted if ns not in existing]
    if missing:
        with tempfile.TemporaryDirectory(prefix="promkit-k8s-") as folder:
            path = Path(folder) / "namespaces.yaml"
            path.write_text(yaml.safe_dump_all(namespace_objects(checked, missing)))
            kube.apply_file(c, context, path, dry_run=dry_run)
    if dry_run and missing:
        console.say(
            f"skipped the server-side dry run: namespace(s) {', '.join(missing)} do not exist yet"
        )
        return False
    kube.server_dry_run(c, context, checked.kustomization)
    return True


def namespace_objects(checked: Checked, names: list[str]) -> list[dict[str, Any]]:
    """The rendered Namespace objects called one of ``names``."""
    return [
        obj
        for obj in checked.objects
        if obj.get("kind") == "Namespace" and obj["metadata"]["name"] in names
    ]


def wait_for_rollouts(
    c: Context, context: str, workloads: list[Workload], timeout: float, *, dry_run: bool = False
) -> None:
    """Wait for each rollout within one overall deadline; explain the first that fails.

    Under ``dry_run`` each wait is printed instead.
    """
    deadline = Deadline(timeout)
    for workload in workloads:
        ns, name = workload.namespace, workload.name
        done = kube.rollout_status(
            c, context, ns, name, deadline.remaining(floor=1.0), dry_run=dry_run
        )
        if done.ok:
            if not dry_run:
                console.say(f"deployment {ns}/{name} is ready")
            continue
        failing = kube.failing_pods_report(c, context, workload.namespace, workload.selector)
        pods = ", ".join(f"{p.name} ({p.phase} {p.reason})".replace(" )", ")") for p in failing)
        raise PromkitError(
            f"deployment {ns}/{name} was not ready within {timeout:g}s: "
            f"{pods or runner.last_line(done.stderr) or 'no pods'}; see the events and log "
            f"lines above, and docs/operations/prometheus-setup.md#troubleshooting"
        )


@dataclass(frozen=True)
class Teardown:
    """What a destroy deletes, and the namespaces it keeps for their data."""

    context: str
    #: kubectl resource types deleted by label (PersistentVolumeClaims only with volumes).
    types: list[str]
    #: Namespaces deleted by name, and those kept since they hold the data.
    doomed: list[str]
    kept: list[str]
    timeout: float


def plan_teardown(c: Context, config: Any, context: str, *, volumes: bool) -> Teardown:
    """What ``down`` deletes: everything deploy.k8s created, the data only with ``volumes``."""
    wait = load(config).k8s.rollout_timeout
    objects = manifests.render(c, manifests.kustomization_dir(config))
    kept = [] if volumes else manifests.volume_namespaces(objects)
    types = manifests.resource_types(objects, volumes=volumes)
    doomed = [ns for ns in manifests.namespaces(objects) if ns not in kept]
    return Teardown(context, types, doomed, kept, wait)


def down(c: Context, teardown: Teardown, *, dry_run: bool = False) -> None:
    """Delete by label, then the namespaces, waiting until gone; say what data stays."""
    t = teardown
    kube.delete_labelled(c, t.context, t.types, timeout=t.timeout, dry_run=dry_run)
    kube.delete_namespaces(c, t.context, t.doomed, timeout=t.timeout, dry_run=dry_run)
    if t.kept:
        kept = f": namespace(s) {', '.join(t.kept)} and their PersistentVolumeClaim"
        console.say(kept_data_line(kept, "them"))


def start_port_forward(config: Any, context: str) -> forwarding.PortForward:
    """A port-forward from a free local port to svc/prometheus of ``context``, answering."""
    k8s = load(config).k8s
    return forwarding.start_port_forward(context, k8s.namespace, timeout=k8s.port_forward_timeout)


def hold_port_forward(forward: forwarding.PortForward, poll_s: float = 0.5) -> None:
    """Keep ``forward`` up until Ctrl-C; a PromkitError saying why if kubectl stops first."""
    try:
        while forward.running():
            time.sleep(poll_s)
    except KeyboardInterrupt:
        return
    finally:
        forward.stop()
    raise PromkitError(
        f"`{forward.command}` stopped: {runner.last_line(forward.error_output) or 'no output'}"
    )
