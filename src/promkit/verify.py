"""Which checks to run, fetching what they need concurrently, once per round.

``run_checks(names, client, expectations, guide_path)`` is the reusable entry
point; ``verify_and_report`` adds the waiting and the reports the verify tasks
print, against ``--url`` or (called by k8s_stack) a port-forwarded Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from promkit import (
    browser,
    checks,
    discovery,
    durations,
    evidence,
    prom,
    report,
    rule_checks,
    rules,
    settings,
)
from promkit import wait as waiting
from promkit.checks import CheckResult
from promkit.errors import ConfigError, PromkitError
from promkit.prom import Answer, APIError, PrometheusClient
from promkit.queries import DocumentedQuery, load_guide
from promkit.rule_checks import RepoRules, SelectorAnswer
from promkit.settings import Expectations

#: Every check group, in report order; ``verify.all`` runs them all in one round.
NAMES: tuple[str, ...] = ("health", "targets", "interval", "retention", "ui", "queries", "rules")
#: Checks that read the cluster too: in ``verify.all --context`` only.
KUBERNETES_NAMES: tuple[str, ...] = ("discovery",)
#: Checks run only when asked for: red on a healthy server's very first start.
EXTRA_NAMES: tuple[str, ...] = ("persistence",)

#: What each group needs fetched (``queries`` adds one fetch per documented query,
#: ``rules`` one per distinct selector of the repo's rules).
_NEEDS: dict[str, tuple[str, ...]] = {
    "health": ("healthy", "ready", "buildinfo", "runtimeinfo"),
    "targets": ("targets", "config"),
    "interval": ("config",),
    "retention": ("runtimeinfo", "flags"),
    "ui": ("ui",),
    "queries": (),
    "rules": ("rules",),
    "persistence": ("runtimeinfo", "tsdb", "lowest"),
    "discovery": ("targets", "config", "cluster"),
}
#: The oldest sample time the TSDB reports of itself (blocks included).
LOWEST_TIMESTAMP_QUERY = "min(prometheus_tsdb_lowest_timestamp_seconds)"
_MAX_WORKERS = 8


@dataclass(frozen=True)
class UiPages:
    """What a browser would load first: the landing page, the targets page, one script."""

    root: Answer
    targets: Answer | None
    asset: Answer | None


@dataclass(frozen=True)
class Verification:
    """One round of checks against one server."""

    url: str
    version: str
    results: list[CheckResult]
    #: When the server started (runtimeinfo's startTime), if it said.
    started: datetime | None = None
    #: What the checks judged, by fetch key ("targets", "query:0", ...): the report's raw answers.
    payloads: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: The documented queries behind the "query:N" payloads.
    queries: tuple[DocumentedQuery, ...] = ()
    #: The selectors behind the "selector:N" payloads (verify.rules).
    selectors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in report order, or a ConfigError naming an unknown one."""
    wanted = set(names)
    known = NAMES + KUBERNETES_NAMES + EXTRA_NAMES
    unknown = wanted - set(known)
    if unknown:
        raise ConfigError(f"unknown checks {sorted(unknown)}: choose from {', '.join(known)}")
    return tuple(name for name in known if name in wanted)


def fetch_ui(client: PrometheusClient) -> UiPages:
    """The landing page (after redirects), the targets page next to it, and its first script."""
    root = client.fetch("/")
    if root.status != 200:
        return UiPages(root, None, None)
    # The targets page sits next to where / lands: /graph, /query or Debian's /classic/graph.
    targets = client.fetch(urljoin(root.url, "targets"))
    script = checks.first_script(root.text)
    asset = client.fetch(urljoin(root.url, script)) if script else None
    return UiPages(root, targets, asset)


def _run_query(client: PrometheusClient, query: DocumentedQuery) -> tuple[Any, str | None]:
    # Invalid PromQL is the guide's fault, a check failure naming the query, not exit 2.
    try:
        return client.query(query.promql), None
    except APIError as exc:
        return None, f"{exc.error_type}: {exc.error}"


def _count_selector(client: PrometheusClient, selector: str) -> SelectorAnswer:
    # A selector the server refuses is the rule's fault: a check failure naming it, not exit 2.
    promql = rule_checks.count_query(selector)
    try:
        return SelectorAnswer(selector, promql, data=client.query(promql))
    except APIError as exc:
        return SelectorAnswer(selector, promql, error=f"{exc.error_type}: {exc.error}")


def _fetchers(
    client: PrometheusClient,
    keys: set[str],
    queries: Sequence[DocumentedQuery],
    cluster: Callable[[], Any] | None = None,
    selectors: Sequence[str] = (),
) -> dict[str, Callable[[], Any]]:
    every: dict[str, Callable[[], Any]] = {
        "healthy": lambda: client.probe("/-/healthy"),
        "ready": lambda: client.probe("/-/ready"),
        "buildinfo": client.buildinfo,
        "runtimeinfo": client.runtimeinfo,
        "flags": client.flags,
        "targets": client.targets,
        "config": client.config_yaml,
        "ui": lambda: fetch_ui(client),
        "tsdb": client.tsdb_status,
        "lowest": lambda: client.query(LOWEST_TIMESTAMP_QUERY),
        "rules": client.rules,
    }
    if cluster is not None:  # run_round refuses discovery without one
        every["cluster"] = cluster
    chosen = {key: every[key] for key in sorted(keys)}
    for index, query in enumerate(queries):
        chosen[f"query:{index}"] = lambda q=query: _run_query(client, q)  # type: ignore[misc]
    for index, selector in enumerate(selectors):
        chosen[f"selector:{index}"] = lambda s=selector: _count_selector(client, s)  # type: ignore[misc]
    return chosen


def fetch_all(fetchers: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run every fetcher concurrently; the first error (in key order) is raised after all end."""
    with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, max(1, len(fetchers)))) as pool:
        futures = {key: pool.submit(fetch) for key, fetch in fetchers.items()}
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    promkit_errors = [e for e in errors if isinstance(e, PromkitError)]
    if promkit_errors or errors:
        raise (promkit_errors or errors)[0]  # type: ignore[misc]
    return {key: future.result() for key, future in futures.items()}


def _judge(
    names: Sequence[str],
    got: dict[str, Any],
    expect: Expectations,
    queries: Sequence[DocumentedQuery],
    repo: RepoRules | None = None,
) -> list[CheckResult]:
    results: list[CheckResult] = []
    if "health" in names:
        results.append(checks.check_runs(got["buildinfo"], got["runtimeinfo"]))
        results.append(checks.check_health(got["healthy"], got["ready"], expect.health_latency_ms))
    if "targets" in names:
        results.append(checks.check_jobs(got["targets"], got["config"], expect.jobs))
        results.append(
            checks.check_targets(got["targets"], expect.scrape_duration_ms, checks.utc_now())
        )
    if "interval" in names:
        results.append(
            checks.check_interval(got["config"], expect.scrape_interval, expect.evaluation_interval)
        )
    if "retention" in names:
        results.append(checks.check_retention(got["runtimeinfo"], got["flags"], expect.retention))
    if "ui" in names:
        pages: UiPages = got["ui"]
        results.append(checks.check_ui(pages.root, pages.targets, pages.asset))
    if "persistence" in names:
        results.append(checks.check_persistence(got["runtimeinfo"], got["tsdb"], got["lowest"]))
    for index, query in enumerate(queries):
        data, error = got[f"query:{index}"]
        results.append(checks.check_query(query, data, error))
    if "discovery" in names:
        results.append(
            discovery.check_discovery(
                got["cluster"], got["targets"], got["config"], expect.discovery_job
            )
        )
    if "rules" in names:
        results += _judge_rules(got, expect, repo)
    return results


def _judge_rules(
    got: dict[str, Any], expect: Expectations, repo: RepoRules | None
) -> list[CheckResult]:
    repo = repo if expect.rules else None  # expect.rules false: nothing was looked up
    selectors = repo.selectors() if repo is not None else ()
    answers = {selector: got[f"selector:{i}"] for i, selector in enumerate(selectors)}
    started = checks.start_time(got["runtimeinfo"])
    interval_s = durations.parse_duration(expect.evaluation_interval)
    return rule_checks.check_all(got["rules"], repo, answers, started, checks.utc_now(), interval_s)


def repo_rules(config_file: Path) -> RepoRules:
    """The rule groups the Prometheus config ``config_file`` loads (a RuleFileError: exit 2)."""
    if not config_file.is_file():
        raise ConfigError(
            f"verify.rules reads the rules of {config_file}, which is not a file: "
            "check compose.prometheus_config"
        )
    return RepoRules(config_file, rules.repo_groups(config_file))


def _version(buildinfo: Any) -> str:
    version = buildinfo.get("version") if isinstance(buildinfo, dict) else None
    return str(version) if version else "unknown (unstamped build)"


def run_round(
    names: Iterable[str],
    client: PrometheusClient,
    expectations: Expectations,
    guide_path: Path | None = None,
    cluster: Callable[[], Any] | None = None,
    also: Iterable[str] = (),
    repo: RepoRules | None = None,
) -> Verification:
    """Fetch what the named checks need (concurrently, each endpoint once), then judge it.

    ``cluster`` reads the cluster's pods and workloads (verify.discovery needs it);
    ``also`` names further answers to fetch for a report (e.g. "config", "flags");
    ``repo`` holds the rule groups verify.rules expects (unless expect.rules is false).
    """
    chosen = check_names(names)
    if "discovery" in chosen and cluster is None:
        raise ConfigError("verify.discovery reads the cluster too: give --context")
    queries: list[DocumentedQuery] = []
    if "queries" in chosen:
        if guide_path is None:
            raise ConfigError("verify.queries needs the metrics guide: set queries.guide")
        queries = load_guide(guide_path)
    selectors = _rule_selectors(chosen, expectations, repo)
    keys = {key for name in chosen for key in _NEEDS[name]} | {"buildinfo", "runtimeinfo", *also}
    got = fetch_all(_fetchers(client, keys, queries, cluster, selectors))
    results = _judge(chosen, got, expectations, queries, repo)
    started = checks.start_time(got["runtimeinfo"])
    version = _version(got["buildinfo"])
    found = (tuple(queries), selectors)
    return Verification(client.base_url, version, results, started, got, *found)


def _rule_selectors(
    chosen: Sequence[str], expectations: Expectations, repo: RepoRules | None
) -> tuple[str, ...]:
    """The selectors verify.rules looks up, or a ConfigError if it has no rules to judge."""
    if "rules" not in chosen or not expectations.rules:
        return ()
    if repo is None:
        raise ConfigError("verify.rules needs the repo's rules: set compose.prometheus_config")
    return repo.selectors()


def run_checks(
    names: Iterable[str],
    client: PrometheusClient,
    expectations: Expectations,
    guide_path: Path | None = None,
) -> list[CheckResult]:
    """The results of one round of the named checks (see ``NAMES``) against ``client``."""
    return run_round(names, client, expectations, guide_path).results


def verify_and_report(
    config: Any,
    names: Sequence[str],
    *,
    url: str | None = None,
    wait: str | float | None = None,
    json_path: str | None = None,
    junit_path: str | None = None,
    kubernetes: bool = False,
    before_round: Callable[[], None] | None = None,
    cluster: Callable[[], Any] | None = None,
    report_dir: str | None = None,
    use_browser: bool = False,
    failure_logs: evidence.FailureLogs | None = None,
) -> Verification:
    """Run the named checks (see ``NAMES``), print the table, write the reports asked for.

    ``wait`` polls until green; without it, a failing server only a few scrape
    intervals old is still given the time for its first scrapes. ``before_round``
    runs before each round (a port-forward restarts there). ``report_dir`` gets the
    HTML evidence report (with ``failure_logs``' lines if the round fails); with it or
    ``use_browser``, verify.ui also checks the targets page in headless Chromium.
    """
    loaded = settings.load(config)
    client = prom.client_from_settings(loaded.prometheus, url)
    expect = loaded.expectations(kubernetes=kubernetes)
    deadline = waiting.parse_wait(wait)
    guide = settings.repo_path(loaded.queries_guide)
    folder = evidence.prepare(report_dir) if report_dir else None  # unwritable: exit 2 first
    also = evidence.ALSO_FETCHED if folder else ()
    repo = None
    if "rules" in names and expect.rules:  # on --context too: its ConfigMap ships these rules
        repo = repo_rules(settings.repo_path(loaded.compose.prometheus_config))

    def attempt() -> Verification:
        if before_round is not None:
            before_round()
        return run_round(names, client, expect, guide, cluster, also, repo)

    outcome = waiting.wait_until_green(attempt, deadline)
    if deadline is None and not outcome.ok:
        interval_s = durations.parse_duration(expect.scrape_interval)
        outcome = waiting.wait_while_young(outcome, attempt, interval_s, checks.utc_now())
    check_ui = "ui" in names and (use_browser or folder is not None)
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
    print_report(outcome, json_path, junit_path, page)
    return outcome


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


def print_report(
    outcome: Verification,
    json_path: str | None,
    junit_path: str | None,
    page: Path | None = None,
) -> None:
    """Print the table of ``outcome``; write its JSON and JUnit reports where asked.

    With ``page`` (the HTML report), each JUnit test case links to its row there.
    """
    print(f"Prometheus {outcome.version} at {outcome.url}\n")
    print(report.table(outcome.results))
    found = (outcome.url, outcome.version, outcome.results)
    if page:
        print(f"HTML report: {page}")
    if json_path:
        print(f"JSON report: {report.write_json(json_path, *found)}")
    if junit_path:
        print(f"JUnit report: {report.write_junit(junit_path, *found, page=page)}")
