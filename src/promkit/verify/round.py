"""Which checks to run, fetching what they need concurrently, once per round.

``run_checks(names, client, expectations, guide_path)`` is the reusable entry
point; promkit.report.session's ``verify_and_report`` adds the waiting and the reports
the verify tasks print. verify.drift's round is here too: ``server_view`` fetches what
the server runs, ``compare`` holds it to a repo view (promkit.verify.drift judges).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from promkit.core import durations
from promkit.core.errors import ConfigError, PromkitError
from promkit.core.settings import Expectations
from promkit.rules import files as rules
from promkit.verify import checks, discovery, drift, rule_checks
from promkit.verify.client import APIError, PrometheusClient
from promkit.verify.drift import RepoView, ServerView
from promkit.verify.queries import DocumentedQuery, load_guide
from promkit.verify.result import (
    Answer,
    CheckResult,
    Request,
    UiPages,
    UnexpectedPayload,
    Verification,
)
from promkit.verify.rule_checks import ExpectedRules, RepoRules, SelectorAnswer

#: Every check group, in report order; ``verify.all`` runs them all in one round.
NAMES: tuple[str, ...] = ("health", "targets", "interval", "retention", "ui", "queries", "rules")

#: The result rows one round of ``NAMES`` gives (``verify.all`` without --context), in
#: report order: ``health`` judges "runs" and "health", ``targets`` "jobs" and "targets",
#: ``queries`` one "query: NAME" per query of the metrics guide promkit ships (the default
#: queries.guide; a guide of one's own has its own), ``rules`` "rules", "rule selectors"
#: and "watchdog".
ROWS: tuple[str, ...] = (
    "runs",
    "health",
    "jobs",
    "targets",
    "interval",
    "retention",
    "ui",
    "query: p95 latency",
    "query: Error rate",
    "query: Queue depth",
    "query: Success rate by tenant",
    "query: Request rate",
    "rules",
    "rule selectors",
    "watchdog",
)


#: Checks that read the cluster too: in ``verify.all --context`` only.
KUBERNETES_NAMES: tuple[str, ...] = ("discovery",)


#: Checks run only when asked for: red on a healthy server's very first start.
EXTRA_NAMES: tuple[str, ...] = ("persistence",)


#: What each group needs fetched (``queries`` adds one fetch per documented query,
#: ``rules``, once the rules answer is in, one per distinct selector of the server's rules).
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


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in report order, or a ConfigError naming an unknown one."""
    wanted = set(names)
    known = NAMES + KUBERNETES_NAMES + EXTRA_NAMES
    unknown = wanted - set(known)
    if unknown:
        raise ConfigError(f"unknown checks {sorted(unknown)}: choose from {', '.join(known)}")
    return tuple(name for name in known if name in wanted)


#: The GET behind each answer a check needs (``ui``: the landing page, after redirects).
ENDPOINTS: dict[str, Request] = {
    "healthy": Request("healthy", "/-/healthy"),
    "ready": Request("ready", "/-/ready"),
    "buildinfo": Request("buildinfo", "/api/v1/status/buildinfo"),
    "runtimeinfo": Request("runtimeinfo", "/api/v1/status/runtimeinfo"),
    "flags": Request("flags", "/api/v1/status/flags"),
    "targets": Request("targets", "/api/v1/targets"),
    "config": Request("config", "/api/v1/status/config"),
    "ui": Request("ui", "/"),
    "tsdb": Request("tsdb", "/api/v1/status/tsdb"),
    "lowest": Request("lowest", "/api/v1/query", (("query", LOWEST_TIMESTAMP_QUERY),)),
    "rules": Request("rules", "/api/v1/rules"),
}


def _query(key: str, promql: str) -> Request:
    return Request(key, "/api/v1/query", (("query", promql),))


def first_requests(
    names: Iterable[str], queries: Sequence[DocumentedQuery] = (), also: Iterable[str] = ()
) -> list[Request]:
    """The requests a round of ``names`` makes before any answer is in: every endpoint
    once, however many checks read it, then one query per documented query."""
    keys = {key for name in check_names(names) for key in _NEEDS[name]}
    keys |= {"buildinfo", "runtimeinfo", *also}
    plan = [ENDPOINTS[key] for key in sorted(keys - {"cluster"})]  # the cluster is kubectl's
    return plan + [_query(f"query:{index}", q.promql) for index, q in enumerate(queries)]


def follow_ups(answers: Mapping[str, Any], selectors: Sequence[str] = ()) -> list[Request]:
    """The requests the first answers call for: the targets page and the first script next
    to where ``/`` landed (when it answered 200), one ``count()`` per rule ``selectors``."""
    plan = []
    landing = answers.get("ui")
    if isinstance(landing, UiPages):  # a finished round's answers
        landing = landing.root
    if isinstance(landing, Answer) and landing.status == 200:
        # Next to where / lands: /graph, /query or Debian's /classic/graph.
        plan.append(Request("ui:targets", urljoin(landing.url, "targets")))
        script = checks.first_script(landing.text)
        if script:
            plan.append(Request("ui:asset", urljoin(landing.url, script)))
    counts = (rule_checks.count_query(selector) for selector in selectors)
    return plan + [_query(f"selector:{index}", promql) for index, promql in enumerate(counts)]


def fetch_plan(
    names: Iterable[str] = NAMES,
    queries: Sequence[DocumentedQuery] = (),
    also: Iterable[str] = (),
    answers: Mapping[str, Any] | None = None,
    expected: ExpectedRules | None = None,
) -> list[Request]:
    """Every HTTP request a round of ``names`` makes, each once: ``first_requests``, then,
    given their ``answers``, the ``follow_ups`` (one count() per selector of the server's
    rules when verify.rules expects ``expected``). ``run_round`` fetches exactly these."""
    first = first_requests(names, queries, also)
    if answers is None:
        return first
    return first + follow_ups(answers, _rule_selectors(expected, answers))


def _api_or_refusal(client: PrometheusClient, request: Request) -> tuple[Any, str | None]:
    # PromQL the server refuses is the guide's or the rule's fault: a check failure naming
    # it, not exit 2.
    try:
        return client.api(request.path, dict(request.params)), None
    except APIError as exc:
        return None, f"{exc.error_type}: {exc.error}"


def _fetcher(
    client: PrometheusClient, request: Request, selectors: Sequence[str] = ()
) -> Callable[[], Any]:
    """What fetches ``request`` and turns its answer into what the checks read."""
    kind, _, index = request.key.partition(":")
    if kind in ("healthy", "ready"):
        return lambda: client.probe(request.path)
    if kind == "ui":
        return lambda: client.fetch(request.path)
    if kind == "query":
        return lambda: _api_or_refusal(client, request)
    if kind == "selector":
        selector, promql = selectors[int(index)], dict(request.params)["query"]

        def count() -> SelectorAnswer:
            data, error = _api_or_refusal(client, request)
            return SelectorAnswer(selector, promql, data=data, error=error)

        return count
    if kind == "config":
        return lambda: client.config_text(client.api(request.path))
    return lambda: client.api(request.path, dict(request.params))


def _fetch_requests(
    client: PrometheusClient,
    plan: Sequence[Request],
    selectors: Sequence[str] = (),
    cluster: Callable[[], Any] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    fetchers = {request.key: _fetcher(client, request, selectors) for request in plan}
    if cluster is not None:
        fetchers["cluster"] = cluster
    return fetch_all(fetchers, timings) if fetchers else {}


def _with_ui_pages(got: dict[str, Any]) -> dict[str, Any]:
    """``got`` with the landing page and what followed it as one ``ui`` answer."""
    if "ui" not in got:
        return got
    pages = UiPages(got["ui"], got.get("ui:targets"), got.get("ui:asset"))
    kept = {key: value for key, value in got.items() if key not in ("ui:targets", "ui:asset")}
    return kept | {"ui": pages}


def _timed(fetch: Callable[[], Any], key: str, timings: dict[str, float]) -> Any:
    began = time.perf_counter()
    try:
        return fetch()
    finally:
        timings[key] = time.perf_counter() - began


def fetch_all(
    fetchers: dict[str, Callable[[], Any]], timings: dict[str, float] | None = None
) -> dict[str, Any]:
    """Run every fetcher concurrently; the first error (in key order) is raised after all end.

    ``timings`` gets the seconds each fetch took, by its key.
    """
    took = timings if timings is not None else {}
    with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, max(1, len(fetchers)))) as pool:
        futures = {key: pool.submit(_timed, fetch, key, took) for key, fetch in fetchers.items()}
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
    expected: ExpectedRules | None = None,
    selectors: Sequence[str] = (),
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
    if "rules" in names and expected is not None:
        results += _judge_rules(got, expect, expected, selectors)
    return results


def _judge_rules(
    got: dict[str, Any],
    expect: Expectations,
    expected: ExpectedRules,
    selectors: Sequence[str],
) -> list[CheckResult]:
    answers = {selector: got[f"selector:{i}"] for i, selector in enumerate(selectors)}
    started = checks.start_time(got["runtimeinfo"])
    interval_s = durations.parse_duration(expect.evaluation_interval)
    now = checks.utc_now()
    return rule_checks.check_all(got["rules"], expected, answers, started, now, interval_s)


def expected_rules(expect: Expectations, repo: RepoRules | None) -> ExpectedRules:
    """What verify.rules expects loaded (see ``ExpectedRules``), or a ConfigError if the
    expected groups are compose.prometheus_config's and ``repo`` (its rules) is missing."""
    if not expect.rules:
        return ExpectedRules(rule_checks.NO_RULES)
    if expect.rule_groups is not None:
        return ExpectedRules(rule_checks.NAMED, names=expect.rule_groups, watchdog=expect.watchdog)
    if not expect.rules_declared:
        return ExpectedRules(rule_checks.UNDECLARED, watchdog=expect.watchdog)
    if repo is None:
        raise ConfigError("verify.rules needs the repo's rules: set compose.prometheus_config")
    return ExpectedRules.from_config(repo, expect.watchdog)


def needs_repo_rules(expect: Expectations) -> bool:
    """Whether verify.rules expects the groups of compose.prometheus_config's rule files."""
    return expect.rules and expect.rules_declared and expect.rule_groups is None


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
    ``repo`` holds the rule groups of compose.prometheus_config (when verify.rules
    expects those, see ``needs_repo_rules``). The selectors of the server's rules are
    looked up once its rules answer is in. The round makes exactly the requests of
    ``fetch_plan`` (kept in the result's ``requests``).
    """
    chosen = check_names(names)
    if "discovery" in chosen and cluster is None:
        raise ConfigError("verify.discovery reads the cluster too: give --context")
    queries: list[DocumentedQuery] = []
    if "queries" in chosen:
        if guide_path is None:
            raise ConfigError("verify.queries needs the metrics guide: set queries.guide")
        queries = load_guide(guide_path)
    expected = expected_rules(expectations, repo) if "rules" in chosen else None
    first = first_requests(chosen, queries, also)
    reads_cluster = cluster if "discovery" in chosen else None
    timings: dict[str, float] = {}
    got = _fetch_requests(client, first, cluster=reads_cluster, timings=timings)
    selectors = _rule_selectors(expected, got)
    then = follow_ups(got, selectors)
    got = _with_ui_pages(got | _fetch_requests(client, then, selectors, timings=timings))
    results = _judge(chosen, got, expectations, queries, expected, selectors)
    started = checks.start_time(got["runtimeinfo"])
    version = _version(got["buildinfo"])
    found = (tuple(queries), selectors, (*first, *then))
    return Verification(client.base_url, version, results, started, got, *found, timings)


def check_seconds(outcome: Verification, names: Iterable[str]) -> dict[str, float]:
    """Per check group: how long the fetches it judges took, the slowest of them (they run
    concurrently); ``rules`` adds its selectors' lookups, which follow the rules answer."""
    timings = outcome.timings
    seconds: dict[str, float] = {}
    for name in check_names(names):
        own = [timings.get(key, 0.0) for key in _NEEDS[name]]
        if name == "queries":
            own += [v for k, v in timings.items() if k.startswith("query:")]
        took = max(own, default=0.0)
        if name == "rules":
            took += max((v for k, v in timings.items() if k.startswith("selector:")), default=0.0)
        seconds[name] = took
    return seconds


def _rule_selectors(expected: ExpectedRules | None, got: Mapping[str, Any]) -> tuple[str, ...]:
    """The selectors verify.rules looks up: those of the rules the server loads."""
    if expected is None or expected.source == rule_checks.NO_RULES:
        return ()
    if expected.repo is not None and not expected.repo.groups:
        return ()  # the config loads no group: that is the one finding
    return rule_checks.server_selectors(got["rules"])


def run_checks(
    names: Iterable[str],
    client: PrometheusClient,
    expectations: Expectations,
    guide_path: Path | None = None,
) -> list[CheckResult]:
    """The results of one round of the named checks (see ``NAMES``) against ``client``."""
    return run_round(names, client, expectations, guide_path).results


@dataclass(frozen=True)
class Drift:
    """What verify.drift found: the repo view compared, and each difference."""

    repo: RepoView
    differences: list[str]
    #: What could not be compared, and why (said on stderr; not a difference).
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.differences

    def text(self) -> str:
        """One line per difference, or ``server matches`` and what was compared."""
        return drift.verdict(self.repo, self.differences)


def server_view(client: PrometheusClient) -> ServerView:
    """The served config, flags, rules and runtime info, fetched concurrently."""
    got = fetch_all(
        {
            "config": client.config_yaml,
            "flags": client.flags,
            "rules": client.rules,
            "runtimeinfo": client.runtimeinfo,
        }
    )
    if not isinstance(got["flags"], Mapping):
        raise UnexpectedPayload("/api/v1/status/flags is not a mapping of flags")
    return ServerView(
        checks.parse_config(got["config"]), got["flags"], got["rules"], got["runtimeinfo"]
    )


def compare(repo: RepoView, client: PrometheusClient) -> Drift:
    """What the server behind ``client`` runs, against ``repo``."""
    return Drift(repo, drift.differences(repo, server_view(client)))
