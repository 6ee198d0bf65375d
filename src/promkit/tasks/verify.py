"""verify.*: prove through Prometheus' HTTP API that a deployment is right.

Exit codes: 0 every check passes, 1 some check failed, 2 promkit could not do
its job (unreachable, timeout, HTTP error, not Prometheus, bad settings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from promkit.tasks.common import context_on_command_line, reports_errors

#: verify.upgrade's default --from (promkit.local.rehearsal.DEBIAN_PROMETHEUS).
DEBIAN_PROMETHEUS = "/usr/bin/prometheus"

HELP = {
    "url": "Prometheus base URL (default: setting prometheus.url; with --context, a "
    "port-forward to svc/prometheus unless --url is given too)",
    "wait": "poll up to SECONDS until every check passes (default: only while the server "
    "is younger than 3 scrape intervals)",
    "json": "also write a JSON report to PATH",
    "junit": "also write a JUnit XML report to PATH (one test case per check)",
    "context": "verify the Prometheus of this Kubernetes context, through a managed "
    "kubectl port-forward (expectations from k8s.expect_jobs)",
    "browser": "verify.ui also checks the targets page in headless Chromium (on with --report)",
    "report": "also write an HTML evidence report to folder DIR (DIR/index.html, the raw API "
    "answers, screenshots of the UI, the logs of what failed)",
}


#: Stands for every check (promkit.rounds.NAMES, imported lazily to keep `inv --list` fast).
ALL = ("all",)


def _run(c: Context, names: Sequence[str], context: str | None, flags: dict[str, Any]) -> None:
    """Verify the URL given (or configured), or the cluster of ``--context`` if given."""
    from promkit.report import session as reporting
    from promkit.verify import round as rounds

    options = reporting.VerifyOptions(**flags)
    context = context or context_on_command_line()
    every = tuple(names) == ALL
    if every:
        names = rounds.NAMES + rounds.KUBERNETES_NAMES if context else rounds.NAMES
    if context:
        outcome = reporting.verify_cluster(c, context, names, options)
    else:
        from promkit.local.logs import compose_logs

        logs = compose_logs(c, c.config)
        # verify.all adds verify.alerts' rows for a Prometheus that sends alerts.
        outcome = reporting.verify_and_report(
            c.config, names, options, failure_logs=logs, alerts=every
        )
    if not outcome.ok:
        raise Exit(code=1)


def _verify_task(names: Sequence[str], doc: str, **task_options: object) -> Callable[..., None]:
    """An Invoke task running the checks ``names``, with the common verify flags."""

    def body(
        c: Context,
        url: str | None = None,
        wait: str | None = None,
        json: str | None = None,
        junit: str | None = None,
        context: str | None = None,
        report: str | None = None,
        browser: bool = False,
    ) -> None:
        given = {"url": url, "wait": wait, "use_browser": browser, "report_dir": report}
        _run(c, names, context, {**given, "json_path": json, "junit_path": junit})

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
ui = _verify_task(
    ["ui"],
    "Check the web UI answers with Prometheus' pages at root and targets (--browser: in Chromium).",
)
queries = _verify_task(
    ["queries"], "Run every sample query of the metrics guide and check each returns data."
)
rules = _verify_task(
    ["rules"],
    "Check every loaded rule group is evaluated and healthy, the expected ones loaded, every "
    "selector matches; the always-firing alert fires.",
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
        "report": "also write an HTML evidence report to folder DIR (the kubectl answers)",
    }
)
@reports_errors
def rbac(
    c: Context, context: str | None = None, namespace: str | None = None, report: str | None = None
) -> None:
    """Check Prometheus' ServiceAccount may list/watch pods and nothing more (auth can-i)."""
    from promkit.report import session as reporting

    verdict = reporting.verify_rbac(c, c.config, context, namespace, report_dir=report)
    if not verdict.result.ok:
        raise Exit(code=1)


@task(
    help={
        "url": HELP["url"],
        "context": "compare with the kustomization (k8s.kustomization) instead of the compose "
        "stack, on the Prometheus of this Kubernetes context",
    }
)
@reports_errors
def drift(c: Context, url: str | None = None, context: str | None = None) -> None:
    """Compare the server's config, flags, rules and last reload with the repo's files."""
    from promkit.core import console
    from promkit.k8s import repo_view as k8s_view
    from promkit.local import repo_view as local_view

    context = context or context_on_command_line()
    found = k8s_view.drift_cluster(c, context, url) if context else local_view.drift_local(c, url)
    print(found.text())
    for note in found.notes:  # what could not be compared: not drift, said beside it
        console.warn(note)
    if not found.ok:
        raise Exit(code=1)


@task(
    help={
        "url": "Prometheus base URL (default: setting prometheus.url)",
        "alertmanager": "the Alertmanager base URL (default: setting alerts.alertmanager_url)",
        "sink": "the webhook sink its receivers post to, read for delivery (default: "
        "alerts.sink_url; without one, delivery is not proven: red)",
        "wait": HELP["wait"],
        "json": HELP["json"],
        "junit": HELP["junit"],
    }
)
@reports_errors
def alerts(
    c: Context,
    url: str | None = None,
    alertmanager: str | None = None,
    sink: str | None = None,
    wait: str | None = None,
    json: str | None = None,
    junit: str | None = None,
) -> None:
    """Check the alerting chain: Prometheus -> Alertmanager (cluster) -> receiver -> sink."""
    from promkit.report import session as reporting

    options = reporting.VerifyOptions(url=url, wait=wait, json_path=json, junit_path=junit)
    if not reporting.verify_alerts(c.config, options, alertmanager, sink).ok:
        raise Exit(code=1)


UPGRADE_HELP = {
    "to": "the Prometheus binary to upgrade to (a path; images are out of scope), e.g. "
    "$PROMKIT_PROMETHEUS3_BIN",
    "from": f"the Prometheus binary in use (a path; default {DEBIAN_PROMETHEUS} if installed)",
    "config": "the Prometheus config to rehearse on, with its rule files (default: setting "
    "compose.prometheus_config, the shipped config)",
    "flag": "a flag for both servers, e.g. --flag=--storage.tsdb.retention.time=1d (repeatable)",
    "guide": "the metrics guide whose queries are compared (default: setting queries.guide)",
    "timeout": "seconds to wait until both scraped every target 3x and evaluated every rule "
    "group twice (default 120)",
    "json": HELP["json"],
}


@task(help=UPGRADE_HELP, iterable=["flag"])
@reports_errors
def upgrade(
    c: Context,
    to: str = "",
    from_: str | None = None,
    config: str | None = None,
    flag: list[str] | None = None,
    guide: str | None = None,
    timeout: str = "120",
    json: str | None = None,
) -> None:
    """Rehearse a Prometheus upgrade (binaries) on your config, rules and documented queries."""
    from promkit.report.upgrade import rehearse_flags

    if not rehearse_flags(c, to, from_, config, flag, guide, timeout, json):
        raise Exit(code=1)


ns = Collection(
    "verify",
    alerts,
    health,
    targets,
    interval,
    retention,
    ui,
    queries,
    rules,
    discovery,
    persistence,
    rbac,
    drift,
    upgrade,
    all_checks,
)
