"""One verification round wired end to end over recorded answers, served on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from bench import runbook
from promkit.core.errors import ConfigError
from promkit.core.settings import DEFAULTS, Expectations, JobExpectation, repo_path
from promkit.verify import client as prom
from promkit.verify import round as rounds
from promkit.verify.client import PrometheusClient
from promkit.verify.queries import load_guide
from tests.support.loopback import Server, serving
from tests.support.recorded import API, recorded_answers

GUIDE = repo_path(DEFAULTS["queries"]["guide"])
REPO = rounds.repo_rules(repo_path(DEFAULTS["compose"]["prometheus_config"]))
# The wiring is under test, not latency (test_checks judges that): an in-process loopback
# server on a busy machine may answer /-/ready in more than the default 50 ms.
EXPECT = Expectations(
    jobs=(JobExpectation("fastapi-app"), JobExpectation("celery-workers")),
    health_latency_ms=5000,
)
Recorded = Callable[..., tuple[PrometheusClient, list[str]]]


@pytest.fixture
def recorded_server() -> Iterator[Recorded]:
    """A real loopback server answering like the recorded 2.42 one: a client for it and
    the paths it was asked for."""
    with ExitStack() as servers:

        def start(
            delay: float = 0.0, broken: str | None = None
        ) -> tuple[PrometheusClient, list[str]]:
            seen: list[str] = []
            server: Server = servers.enter_context(
                serving({"*": recorded_answers(delay, broken, seen)})
            )
            return PrometheusClient(server.url), seen

        yield start


def test_all_checks_pass_on_the_recorded_green_server(recorded_server: Recorded) -> None:
    client, seen = recorded_server()
    outcome = rounds.run_round(rounds.NAMES, client, EXPECT, GUIDE, repo=REPO)
    assert outcome.ok, [r for r in outcome.results if not r.ok]
    assert outcome.version == "2.42.0+ds"
    assert [r.name for r in outcome.results] == list(rounds.ROWS)
    # Every endpoint is fetched once per round, however many checks read it.
    api_calls = [p for p in seen if p.startswith("/api/v1/status") or p == "/api/v1/targets"]
    assert sorted(api_calls) == sorted(API)
    # One count() per distinct selector of the server's rules (the repo's), each asked once.
    counted = [p for p in seen if p.startswith("/api/v1/query?query=count")]
    assert len(counted) == len(set(counted)) == len(REPO.selectors()) == 6
    assert sorted(outcome.selectors) == sorted(REPO.selectors())


def test_rows_are_the_result_names_of_a_round_of_every_check(recorded_server: Recorded) -> None:
    """ROWS, which the tests of verify.all compare against, cannot drift from the checks'
    own names nor from the shipped guide's queries."""
    client, _ = recorded_server()
    outcome = rounds.run_round(rounds.NAMES, client, EXPECT, GUIDE, repo=REPO)
    assert tuple(r.name for r in outcome.results) == rounds.ROWS
    assert len(set(rounds.ROWS)) == len(rounds.ROWS)
    queries = [name for name in rounds.ROWS if name.startswith("query: ")]
    assert queries == [f"query: {query.name}" for query in load_guide(GUIDE)]


def test_fetches_run_concurrently() -> None:
    seen: list[str] = []
    peak = [0]
    with serving({"*": recorded_answers(0.3, None, seen, peak)}) as server:
        rounds.run_round(rounds.NAMES, PrometheusClient(server.url), EXPECT, GUIDE, repo=REPO)
    # 23 requests, each held 0.3s by the server: a round fetching one at a time peaks at 1.
    assert len(seen) >= 23 and peak[0] >= 4, (len(seen), peak)


def test_only_what_a_check_needs_is_fetched(recorded_server: Recorded) -> None:
    client, seen = recorded_server()
    results = rounds.run_checks(["retention"], client, EXPECT, None)
    assert [r.name for r in results] == ["retention"]
    assert sorted(seen) == [
        "/api/v1/status/buildinfo",
        "/api/v1/status/flags",
        "/api/v1/status/runtimeinfo",
    ]


def test_an_http_error_in_any_fetch_is_raised(recorded_server: Recorded) -> None:
    client, _ = recorded_server(broken="/api/v1/status/flags")
    with pytest.raises(prom.HTTPFailure, match="HTTP 500 for /api/v1/status/flags"):
        rounds.run_round(rounds.NAMES, client, EXPECT, GUIDE, repo=REPO)


def test_rules_without_the_repos_rules_is_a_config_error(recorded_server: Recorded) -> None:
    client, seen = recorded_server()
    with pytest.raises(ConfigError, match=r"verify\.rules needs the repo's rules"):
        rounds.run_round(["rules"], client, EXPECT, None)
    assert seen == []


def test_rules_declared_absent_ask_no_selector(recorded_server: Recorded) -> None:
    client, seen = recorded_server()
    expect = dataclasses.replace(EXPECT, rules=False)
    results = rounds.run_round(["rules"], client, expect, None, repo=REPO).results
    assert [(r.name, r.ok) for r in results] == [("rules", True)]
    assert "/api/v1/rules" in seen and not [p for p in seen if "query" in p]


def test_undeclared_rules_judge_the_servers_groups_without_the_repos(
    recorded_server: Recorded,
) -> None:
    client, seen = recorded_server()
    expect = dataclasses.replace(EXPECT, rules_declared=False, watchdog=None)
    results = rounds.run_round(["rules"], client, expect, None).results
    assert [(r.name, r.ok) for r in results] == [
        ("rules", True),
        ("rule selectors", True),
        ("watchdog", True),
    ]
    assert results[0].evidence[-1].startswith("no expected rule groups declared: set expect.rules")
    assert len([p for p in seen if p.startswith("/api/v1/query?query=count")]) == 6


def test_the_rules_of_a_missing_config_file_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"check compose\.prometheus_config"):
        rounds.repo_rules(tmp_path / "prometheus.yml")


def test_unknown_check_name_is_a_config_error(recorded_server: Recorded) -> None:
    client, _ = recorded_server()
    with pytest.raises(ConfigError, match="unknown checks \\['speed'\\]"):
        rounds.run_checks(["speed"], client, EXPECT, GUIDE)


def _on_the_wire(url: str) -> str:
    """What a server sees of ``url``: its path and query (escapes decoded: requests writes
    ``%2b`` in a page's script URL as ``%2B``)."""
    parts = urlsplit(url)
    return unquote(parts.path + (f"?{parts.query}" if parts.query else ""))


def test_a_round_makes_exactly_the_requests_of_its_fetch_plan(recorded_server: Recorded) -> None:
    client, seen = recorded_server()
    outcome = rounds.run_round(rounds.NAMES, client, EXPECT, GUIDE, repo=REPO)
    expected = rounds.expected_rules(EXPECT, REPO)
    plan = rounds.fetch_plan(rounds.NAMES, outcome.queries, (), outcome.payloads, expected)
    assert list(outcome.requests) == plan
    # Each request once, and nothing else: "/" is followed to where it redirects.
    wire = [_on_the_wire(request.url(client.base_url)) for request in plan]
    assert len(set(wire)) == len(wire)
    assert sorted(map(_on_the_wire, seen)) == sorted([*wire, "/classic/graph"])
    # 8 endpoints, the landing page and the 2 next to it, 5 queries, 6 selector counts.
    assert len(plan) == 8 + 3 + len(outcome.queries) + len(outcome.selectors) == 22
    before_any_answer = rounds.fetch_plan(rounds.NAMES, outcome.queries)
    assert plan[: len(before_any_answer)] == before_any_answer


def test_the_plan_of_a_check_is_what_it_needs() -> None:
    plan = rounds.fetch_plan(["retention"], also=["config"])
    assert [request.url("http://p:9090/") for request in plan] == [
        "http://p:9090/api/v1/status/buildinfo",
        "http://p:9090/api/v1/status/config",
        "http://p:9090/api/v1/status/flags",
        "http://p:9090/api/v1/status/runtimeinfo",
    ]
    lowest = rounds.fetch_plan(["persistence"])[1]
    assert (
        lowest.url("http://p")
        == "http://p/api/v1/query?query=min%28prometheus_tsdb_lowest_timestamp_seconds%29"
    )


def test_the_bench_runbook_curls_exactly_what_a_round_fetches(
    recorded_server: Recorded, tmp_path: Path
) -> None:
    """Figure 1's baseline (bench/runbook.py), generated from a round's requests, asks the
    server for the same requests as the round, in one curl each."""
    client, seen = recorded_server()
    outcome = rounds.run_round(rounds.NAMES, client, EXPECT, GUIDE, repo=REPO)
    by_round = sorted(map(_on_the_wire, seen))
    seen.clear()
    script = runbook.write(outcome.requests, client.base_url, tmp_path)
    runbook.curl(script, client.base_url)
    assert sorted(map(_on_the_wire, seen)) == by_round
    assert script.read_text().count("\ncurl ") == len(outcome.requests) == 22
