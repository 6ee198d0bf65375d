"""Deploy, inspect and remove promkit's Kubernetes stack (the kustomization in k8s/).

The same shape as local_stack: ``validate`` checks everything offline and touches
nothing, ``up`` applies and waits for every rollout within one deadline, ``down``
deletes all but the Prometheus data unless asked. Every step names its context:
promkit never uses kubectl's current context on its own.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from invoke.context import Context

from promkit import checks, evidence, failure_logs, kube, manifests, report, runner
from promkit.checks import CheckResult
from promkit.errors import PromkitError
from promkit.manifests import Checked, Workload
from promkit.settings import as_float, load
from promkit.stack import Deadline, kept_data_line

if TYPE_CHECKING:
    from promkit.drift_sources import Drift
    from promkit.verify import Verification


def seconds(value: Any, key: str) -> float:
    """A timeout setting (or its flag) as seconds, at least 1."""
    return as_float(value, key, minimum=1)


# --- deploy ------------------------------------------------------------------------------


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
        print("the API server accepts every object (server-side dry run)")
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
        print(
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
                print(f"deployment {ns}/{name} is ready")
            continue
        failing = kube.failing_pods_report(c, context, workload.namespace, workload.selector)
        pods = ", ".join(f"{p.name} ({p.phase} {p.reason})".replace(" )", ")") for p in failing)
        raise PromkitError(
            f"deployment {ns}/{name} was not ready within {timeout:g}s: "
            f"{pods or runner.last_line(done.stderr) or 'no pods'}; see the events and log "
            f"lines above, and docs/operations/prometheus-setup.md#troubleshooting"
        )


# --- destroy -----------------------------------------------------------------------------


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
        print(kept_data_line(kept, "them"))


# --- port-forward and verify -------------------------------------------------------------


def start_port_forward(config: Any, context: str) -> kube.PortForward:
    """A port-forward from a free local port to svc/prometheus of ``context``, answering."""
    k8s = load(config).k8s
    return kube.start_port_forward(context, k8s.namespace, timeout=k8s.port_forward_timeout)


def hold_port_forward(forward: kube.PortForward, poll_s: float = 0.5) -> None:
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


def verify_cluster(
    c: Context,
    context: str,
    names: Sequence[str],
    *,
    url: str | None = None,
    wait: str | None = None,
    json_path: str | None = None,
    junit_path: str | None = None,
    report_dir: str | None = None,
    use_browser: bool = False,
) -> Verification:
    """Verify through a port-forward to the cluster's Prometheus Service (or ``url``)."""
    from promkit.verify import verify_and_report

    # The slowest step, reading the cluster, starts first; a read that worked proves the
    # context exists, so only otherwise is the kubeconfig asked.
    cluster = kube.ClusterReads(c, context) if "discovery" in names else None
    known = cluster is not None and cluster.context_exists()
    checked = context if known else kube.require_context(c, context)
    namespace = load(c.config).k8s.namespace

    def verify(url: str, before_round: Callable[[], None] | None = None) -> Verification:
        return verify_and_report(
            c.config,
            names,
            url=url,
            before_round=before_round,
            cluster=cluster,
            wait=wait,
            json_path=json_path,
            junit_path=junit_path,
            report_dir=report_dir,
            use_browser=use_browser,
            failure_logs=failure_logs.kube_logs(c, c.config, checked),
            kubernetes=True,
        )

    if url:  # Prometheus reachable as it is: read only the cluster via the context
        return verify(url)
    with kube.kept_port_forward(c, checked, namespace) as forward:
        return verify(forward.url, forward.ensure)


def drift_cluster(c: Context, context: str, url: str | None = None) -> Drift:
    """The rendered kustomization against the cluster's Prometheus (through a port-forward
    to svc/prometheus, or at ``url``)."""
    from promkit import drift_sources, prom

    checked = kube.require_context(c, context)
    repo = drift_sources.k8s_repo(c, c.config)
    loaded = load(c.config)
    if url:
        return drift_sources.compare(repo, prom.client_from_settings(loaded.prometheus, url))
    with kube.kept_port_forward(c, checked, loaded.k8s.namespace) as forward:
        client = prom.client_from_settings(loaded.prometheus, forward.url)
        return drift_sources.compare(repo, client)


@dataclass(frozen=True)
class RbacVerdict:
    """What verify.rbac found for one ServiceAccount in one context."""

    subject: str
    context: str
    result: CheckResult


def verify_rbac(
    c: Context,
    config: Any,
    context: str | None,
    namespace: str | None,
    *,
    report_dir: str | None = None,
) -> RbacVerdict:
    """Ask ``kubectl auth can-i`` as Prometheus' ServiceAccount, judge the answers, print the
    table, and write the evidence report to ``report_dir`` if given."""
    k8s = load(config).k8s
    folder = evidence.prepare(report_dir) if report_dir else None  # unwritable: exit 2 first
    checked = kube.require_context(c, context or k8s.context)
    subject = f"system:serviceaccount:{namespace or k8s.namespace}:prometheus"
    answers = rbac_answers(c, checked, subject, checks.RBAC_PERMISSIONS)
    verdict = RbacVerdict(subject, checked, checks.check_rbac(subject, answers))
    print(f"{verdict.subject} in context {verdict.context}\n")
    print(report.table([verdict.result]))
    if folder is not None:
        can_i = {f"{p.verb} {p.resource}": allowed for p, allowed in answers.items()}
        where = f"{subject} in context {checked}"
        found = evidence.Evidence(
            where, "n/a (kubectl auth can-i)", None, [verdict.result], {"auth-can-i": can_i}
        )
        print(f"HTML report: {evidence.write(folder, found)}")
    return verdict


def rbac_answers(
    c: Context, context: str, subject: str, permissions: Sequence[checks.Permission]
) -> dict[checks.Permission, bool]:
    """What ``kubectl auth can-i --as SUBJECT`` answers for each permission (all namespaces)."""
    answers = {}
    for permission in permissions:
        done = kube.kubectl(
            c,
            context,
            "auth",
            "can-i",
            permission.verb,
            permission.resource,
            "--all-namespaces",
            f"--as={subject}",
            check=False,
        )
        word = (done.stdout.split() or [""])[0]
        if word not in ("yes", "no"):
            reason = runner.last_line(done.stderr) or runner.last_line(done.stdout) or "no answer"
            raise PromkitError(
                f"`kubectl auth can-i {permission.verb} {permission.resource}` for {subject} "
                f"gave no yes/no (exit {done.exit_code}): {reason}"
            )
        answers[permission] = word == "yes"
    return answers
