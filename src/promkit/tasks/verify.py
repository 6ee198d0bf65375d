"""verify.*: prove through Prometheus' HTTP API that a deployment is right.

Exit codes: 0 every check passes, 1 some check failed, 2 promkit could not do
its job (unreachable, timeout, HTTP error, not Prometheus, bad settings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from promkit.tasks.common import context_on_command_line, reports_errors

if TYPE_CHECKING:
    from promkit.verify import Verification

HELP = {
    "url": "Prometheus base URL (default: setting prometheus.url; with --context, a "
    "port-forward to svc/prometheus unless --url is given too)",
    "wait": "poll up to SECONDS until every check passes (default: only while the server "
    "is younger than 3 scrape intervals)",
    "json": "also write a JSON report to PATH",
    "junit": "also write a JUnit XML report to PATH (one test case per check)",
    "context": "verify the Prometheus of this Kubernetes context, through a managed "
    "kubectl port-forward (expectations from k8s.expect_jobs)",
}


def verify_and_report(
    c: Context,
    names: Sequence[str],
    *,
    url: str | None = None,
    wait: str | float | None = None,
    json_path: str | None = None,
    junit_path: str | None = None,
    kubernetes: bool = False,
    before_round: Callable[[], None] | None = None,
    cluster: Callable[[], Any] | None = None,
) -> Verification:
    """Run the named checks (see promkit.verify.NAMES), print the table, write the reports."""
    # Imported here so that `inv --list` stays fast.
    from promkit import checks, durations, prom, report, settings, verify
    from promkit import wait as waiting

    client = prom.client_from_settings(settings.section(c.config, "prometheus"), url)
    expect = settings.expectations(c.config, kubernetes=kubernetes)
    deadline = waiting.parse_wait(wait)
    guide = settings.repo_path(str(settings.section(c.config, "queries").get("guide") or ""))

    def attempt() -> Verification:
        if before_round is not None:
            before_round()
        return verify.run_round(names, client, expect, guide, cluster)

    outcome = waiting.wait_until_green(attempt, deadline)
    if deadline is None and not outcome.ok:
        interval_s = durations.parse_duration(expect.scrape_interval)
        outcome = waiting.wait_while_young(outcome, attempt, interval_s, checks.utc_now())
    print(f"Prometheus {outcome.version} at {outcome.url}\n")
    print(report.table(outcome.results))
    found = (outcome.url, outcome.version, outcome.results)
    if json_path:
        print(f"JSON report: {report.write_json(json_path, *found)}")
    if junit_path:
        print(f"JUnit report: {report.write_junit(junit_path, *found)}")
    return outcome


#: Stands for every check (promkit.verify.NAMES, imported lazily to keep `inv --list` fast).
ALL = ("all",)


def _run(c: Context, names: Sequence[str], options: dict[str, str | None]) -> None:
    """Verify the URL given (or configured), or the cluster of ``--context`` if given."""
    context = options["context"] or context_on_command_line()
    if tuple(names) == ALL:
        from promkit.verify import KUBERNETES_NAMES, NAMES

        names = NAMES + KUBERNETES_NAMES if context else NAMES
    if context:
        outcome = _verify_cluster(c, context, names, options)
    else:
        outcome = verify_and_report(
            c,
            names,
            url=options["url"],
            wait=options["wait"],
            json_path=options["json"],
            junit_path=options["junit"],
        )
    if not outcome.ok:
        raise Exit(code=1)


def _verify_cluster(
    c: Context, context: str, names: Sequence[str], options: dict[str, str | None]
) -> Verification:
    """Verify through a port-forward to the cluster's Prometheus Service (or ``--url``)."""
    from promkit import kube
    from promkit.settings import section

    # The slowest step, reading the cluster, starts first; a read that worked proves the
    # context exists, so only otherwise is the kubeconfig asked.
    cluster = kube.ClusterReads(c, context) if "discovery" in names else None
    known = cluster is not None and cluster.context_exists()
    checked = context if known else kube.require_context(c, context)
    namespace = str(section(c.config, "k8s").get("namespace"))

    def verify(url: str, before_round: Callable[[], None] | None = None) -> Verification:
        return verify_and_report(
            c,
            names,
            url=url,
            before_round=before_round,
            cluster=cluster,
            wait=options["wait"],
            json_path=options["json"],
            junit_path=options["junit"],
            kubernetes=True,
        )

    if options["url"]:  # Prometheus reachable as it is: read only the cluster via the context
        return verify(options["url"])
    with kube.kept_port_forward(c, checked, namespace) as forward:
        return verify(forward.url, forward.ensure)


def _verify_task(names: Sequence[str], doc: str, **task_options: object) -> Callable[..., None]:
    """An Invoke task running the checks ``names``, with the common verify flags."""

    def body(
        c: Context,
        url: str | None = None,
        wait: str | None = None,
        json: str | None = None,
        junit: str | None = None,
        context: str | None = None,
    ) -> None:
        _run(c, names, {"url": url, "wait": wait, "json": json, "junit": junit, "context": context})

    body.__doc__ = doc
    body.__name__ = body.__qualname__ = str(task_options.get("name", names[0]))
    return task(help=HELP, **task_options)(reports_errors(body))  # type: ignore[no-any-return]


health = _verify_task(
    ["health"], "Check Prometheus runs and /-/healthy, /-/ready answer 200 within the budget."
)
targets = _verify_task(
    ["targets"], "Check every expected job has its targets, all UP, error-free and fast."
)
interval = _verify_task(
    ["interval"], "Check the global scrape/evaluation intervals (15s) and that no job overrides."
)
retention = _verify_task(
    ["retention"], "Check the running server keeps data for the expected retention (30d)."
)
ui = _verify_task(["ui"], "Check the web UI answers with Prometheus' pages at root and targets.")
queries = _verify_task(
    ["queries"], "Run every sample query of the metrics guide and check each returns data."
)
discovery = _verify_task(
    ["discovery"],
    "Check each annotated pod has exactly one target (--context); explain each missing one.",
)
persistence = _verify_task(
    ["persistence"],
    "Check stored data predates the server's start (it survived a restart); not in verify.all.",
)
all_checks = _verify_task(
    ALL,
    "Run every verify check in one concurrent round, each mapped to its acceptance item.",
    name="all",
    default=True,
)


@task(
    help={
        "context": "the Kubernetes context (default: setting k8s.context)",
        "namespace": "the namespace of Prometheus' ServiceAccount (default: k8s.namespace)",
    }
)
@reports_errors
def rbac(c: Context, context: str | None = None, namespace: str | None = None) -> None:
    """Check Prometheus' ServiceAccount may list/watch pods and nothing more (auth can-i)."""
    from promkit import checks, kube, report
    from promkit.settings import section
    from promkit.verify import rbac_answers

    k8s = section(c.config, "k8s")
    checked = kube.require_context(c, context or k8s.get("context"))
    subject = f"system:serviceaccount:{namespace or k8s.get('namespace')}:prometheus"
    answers = rbac_answers(c, checked, subject, checks.RBAC_PERMISSIONS)
    result = checks.check_rbac(subject, answers)
    print(f"{subject} in context {checked}\n")
    print(report.table([result]))
    if not result.ok:
        raise Exit(code=1)


ns = Collection(
    "verify",
    health,
    targets,
    interval,
    retention,
    ui,
    queries,
    discovery,
    persistence,
    rbac,
    all_checks,
)
