"""Run a round of checks and render it: the table, JSON, JUnit, the evidence report.

``verify_and_report`` is what every verify task calls, against ``--url``, the local
stack or (``verify_cluster``) a port-forwarded Prometheus in a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from invoke.context import Context

from promkit.core import console, durations, settings
from promkit.core.errors import PromkitError
from promkit.core.settings import AlertSettings, Expectations, load
from promkit.k8s import kubectl as kube
from promkit.k8s import logs as k8s_logs
from promkit.k8s import port_forward as forwarding
from promkit.k8s import rbac
from promkit.k8s.rbac import RbacVerdict
from promkit.report import browser, evidence, formats
from promkit.report.formats import print_report
from promkit.verify import checks
from promkit.verify import client as prom
from promkit.verify import wait as waiting
from promkit.verify.alert_round import alert_round, with_alert_rows
from promkit.verify.alerts import sends_alerts
from promkit.verify.client import PrometheusClient
from promkit.verify.result import FailureLogs, Verification
from promkit.verify.round import needs_repo_rules, repo_rules, run_round

#: Runs before each round (a port-forward restarts there).
BeforeRound = Callable[[], None]


@dataclass(frozen=True)
class VerifyOptions:
    """What a verify task's flags ask of a round: where, how long, which reports."""

    #: The Prometheus base URL (default: setting prometheus.url, or a port-forward).
    url: str | None = None
    #: Poll up to this many seconds until green (a number or its text).
    wait: str | float | None = None
    json_path: str | None = None
    junit_path: str | None = None
    #: Folder of the HTML evidence report.
    report_dir: str | None = None
    #: verify.ui also checks the targets page in headless Chromium.
    use_browser: bool = False


@dataclass(frozen=True)
class Round:
    """One round of the named checks, ready to run again and again against one server."""

    client: PrometheusClient
    expect: Expectations
    #: Runs the round (``before_round`` first) and hands back its Verification.
    attempt: Callable[[], Verification]


def prepare_round(
    loaded: settings.Settings,
    names: Sequence[str],
    url: str | None,
    *,
    kubernetes: bool = False,
    before_round: BeforeRound | None = None,
    cluster: Callable[[], Any] | None = None,
    also: Sequence[str] = (),
    alerting: AlertSettings | None = None,
) -> Round:
    """The client, expectations, guide and repo rules of a round of ``names``, read once
    (a bad setting or rule file is a PromkitError before any request). With ``alerting``,
    a round whose Prometheus sends to Alertmanagers also runs verify.alerts' rows."""
    client = prom.client_from_settings(loaded.prometheus, url)
    expect = loaded.expectations(kubernetes=kubernetes)
    guide = settings.repo_path(loaded.queries_guide)
    repo = None
    # On --context too: its ConfigMap ships these rules.
    if "rules" in names and needs_repo_rules(expect):
        repo = repo_rules(settings.repo_path(loaded.compose.prometheus_config))

    def attempt() -> Verification:
        if before_round is not None:
            before_round()
        outcome = run_round(names, client, expect, guide, cluster, also, repo)
        if alerting is None or not _sends_alerts(outcome):
            return outcome
        return with_alert_rows(outcome, alert_round(client, alerting, expect.watchdog))

    return Round(client, expect, attempt)


def _sends_alerts(outcome: Verification) -> bool:
    """Whether the config the round fetched sends alerts to an Alertmanager."""
    config = outcome.payloads.get("config")
    return isinstance(config, str) and sends_alerts(checks.parse_config(config))


def judges_alert_chain(loaded: settings.Settings, url: str | None) -> bool:
    """Whether verify.all also judges the alerting chain of a Prometheus that sends alerts:
    on the server of the settings (the local stack's, or promkit.yaml's prometheus.url),
    and for ``--url`` (a server of one's own) only when the settings name its Alertmanager
    (alerts.alertmanager_url); else that server keeps the rows it always had, and
    ``verify.alerts --alertmanager URL`` proves its delivery."""
    default = settings.DEFAULT_URLS["alerts.alertmanager_url"]
    return url is None or loaded.alerts.alertmanager_url != default


def verify_and_report(
    config: Any,
    names: Sequence[str],
    options: VerifyOptions,
    *,
    kubernetes: bool = False,
    before_round: BeforeRound | None = None,
    cluster: Callable[[], Any] | None = None,
    failure_logs: FailureLogs | None = None,
    alerts: bool = False,
) -> Verification:
    """Run the named checks (see ``NAMES``), print the table, write the reports asked for.

    ``alerts`` (verify.all on the local stack or ``--url``) adds verify.alerts' rows when
    the server sends alerts to Alertmanagers (its config's alerting.alertmanagers).

    ``options.wait`` polls until green; without it, a failing server only a few scrape
    intervals old is still given the time for its first scrapes. ``before_round``
    runs before each round (a port-forward restarts there). ``options.report_dir`` gets the
    HTML evidence report (with ``failure_logs``' lines if the round fails); with it or
    ``options.use_browser``, verify.ui also checks the targets page in headless Chromium.
    """
    loaded = settings.load(config)
    deadline = waiting.parse_wait(options.wait)
    # An unwritable report folder is exit 2 before any request.
    folder = evidence.prepare(options.report_dir) if options.report_dir else None
    also = evidence.ALSO_FETCHED if folder else ()
    prepared = prepare_round(
        loaded,
        names,
        options.url,
        kubernetes=kubernetes,
        before_round=before_round,
        cluster=cluster,
        also=also,
        alerting=loaded.alerts if alerts and judges_alert_chain(loaded, options.url) else None,
    )
    client, expect, attempt = prepared.client, prepared.expect, prepared.attempt
    outcome = waiting.wait_until_green(attempt, deadline)
    if deadline is None and not outcome.ok:
        interval_s = _scraping_interval_s(client, outcome, expect.scrape_interval)
        outcome = waiting.wait_while_young(outcome, attempt, interval_s, checks.utc_now())
    check_ui = "ui" in names and (options.use_browser or folder is not None)
    outcome, looked = look_in_browser(loaded.report, client, outcome, expect, check_ui, folder)
    page = None
    if folder is not None:
        page = evidence.report_round(
            folder,
            outcome,
            screenshots=looked.screenshots,
            failure_logs=failure_logs,
            notes=looked.notes,
        )
    print_report(outcome, options.json_path, options.junit_path, page)
    return outcome


def _scraping_interval_s(client: PrometheusClient, outcome: Verification, expected: str) -> float:
    """The server's own longest scrape interval (its targets say), else the expected one."""
    targets = outcome.payloads.get("targets")
    if targets is None:
        try:
            targets = client.targets()
        except PromkitError:
            targets = None  # the round's own failure says why; wait as long as expected
    return waiting.scraping_interval(targets, durations.parse_duration(expected))


def look_in_browser(
    report: settings.ReportSettings,
    client: PrometheusClient,
    outcome: Verification,
    expect: Expectations,
    check_ui: bool,
    folder: Path | None,
) -> tuple[Verification, browser.Looked]:
    """``outcome`` with the browser check of the UI (if ``check_ui``); screenshots for a report."""
    if not check_ui and folder is None:
        return outcome, browser.Looked()
    looked = browser.look(
        outcome,
        report,
        client.credentials.header(),
        jobs=expect.jobs if check_ui else None,
        folder=folder,
    )
    return replace(outcome, results=browser.merged(outcome, looked)), looked


@dataclass(frozen=True)
class ClusterTarget:
    """Where the rounds of ``--context`` go, and what they read besides Prometheus."""

    #: The Prometheus URL: ``--url`` as given, else the port-forward's.
    url: str | None
    #: Restarts the port-forward if it died (None with ``--url``).
    before_round: BeforeRound | None
    #: Reads the cluster's pods and workloads (verify.discovery), if asked.
    cluster: kube.ClusterReads | None
    failure_logs: FailureLogs


@contextmanager
def cluster_target(
    c: Context, context: str, names: Sequence[str], url: str | None
) -> Iterator[ClusterTarget]:
    """The cluster of ``context`` reached through a managed port-forward to its Prometheus
    Service (or at ``url``), for as long as the block runs."""
    # The slowest step, reading the cluster, starts first; a read that worked proves the
    # context exists, so only otherwise is the kubeconfig asked.
    cluster = kube.ClusterReads(c, context) if "discovery" in names else None
    known = cluster is not None and cluster.context_exists()
    checked = context if known else kube.require_context(c, context)
    logs = k8s_logs.kube_logs(c, c.config, checked)
    if url:  # Prometheus reachable as it is: read only the cluster via the context
        yield ClusterTarget(url, None, cluster, logs)
        return
    namespace = load(c.config).k8s.namespace
    with forwarding.kept_port_forward(c, checked, namespace) as forward:
        yield ClusterTarget(forward.url, forward.ensure, cluster, logs)


def verify_cluster(
    c: Context, context: str, names: Sequence[str], options: VerifyOptions
) -> Verification:
    """Verify through a port-forward to the cluster's Prometheus Service (or ``options.url``)."""
    with cluster_target(c, context, names, options.url) as target:
        return verify_and_report(
            c.config,
            names,
            replace(options, url=target.url),
            before_round=target.before_round,
            cluster=target.cluster,
            failure_logs=target.failure_logs,
            kubernetes=True,
        )


def verify_rbac(
    c: Context,
    config: Any,
    context: str | None,
    namespace: str | None,
    *,
    report_dir: str | None = None,
) -> RbacVerdict:
    """verify.rbac: judge what Prometheus' ServiceAccount may do, print the table, and write
    the evidence report to ``report_dir`` if given."""
    folder = evidence.prepare(report_dir) if report_dir else None  # unwritable: exit 2 first
    verdict = rbac.verify_rbac(c, config, context, namespace)
    console.say(f"{verdict.subject} in context {verdict.context}\n")
    console.say(formats.table([verdict.result]))
    if folder is not None:
        where = f"{verdict.subject} in context {verdict.context}"
        found = evidence.Evidence(
            where,
            "n/a (kubectl auth can-i)",
            None,
            [verdict.result],
            {"auth-can-i": verdict.answers},
        )
        console.say(f"HTML report: {evidence.write(folder, found)}")
    return verdict


def verify_alerts(
    config: Any,
    options: VerifyOptions,
    alertmanager: str | None = None,
    sink: str | None = None,
) -> Verification:
    """Run verify.alerts' round (promkit.verify.alert_round) until green or ``options.wait``,
    print the table, write the JSON and JUnit reports asked for."""
    from promkit.verify.alert_round import alert_round

    loaded = settings.load(config)
    client = prom.client_from_settings(loaded.prometheus, options.url)
    found = replace(
        loaded.alerts,
        alertmanager_url=_url(alertmanager, "--alertmanager") or loaded.alerts.alertmanager_url,
        sink_url=_url(sink, "--sink") or loaded.alerts.sink_url,
    )
    deadline = waiting.parse_wait(options.wait)
    outcome = waiting.wait_until_green(
        lambda: alert_round(client, found, loaded.expect.watchdog), deadline
    )
    print_report(outcome, options.json_path, options.junit_path)
    return outcome


def _url(value: str | None, flag: str) -> str | None:
    """A URL given on the command line, checked; None if not given."""
    return (
        settings.check_url(value, flag, f"pass e.g. {flag} http://127.0.0.1:9093")
        if value
        else None
    )
