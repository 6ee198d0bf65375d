"""promkit serve: its metrics and pages from recorded rounds, its schedule, its flags."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from promkit.core.errors import ConfigError
from promkit.core.settings import DEFAULTS, Expectations, JobExpectation, repo_path
from promkit.report import formats
from promkit.serve import http, metrics, options, pages, service
from promkit.serve.state import REASONS, State, reason_of
from promkit.verify import client as prom
from promkit.verify import round as rounds
from promkit.verify.client import PrometheusClient
from promkit.verify.result import CheckResult, UnexpectedPayload, Verification
from tests.support import free_port, serving, taken_port
from tests.support.recorded import recorded_answers

GUIDE = repo_path(DEFAULTS["queries"]["guide"])
REPO = rounds.repo_rules(repo_path(DEFAULTS["compose"]["prometheus_config"]))
EXPECT = Expectations(
    jobs=(JobExpectation("fastapi-app"), JobExpectation("celery-workers")),
    health_latency_ms=5000,
)
NAMES = ("health", "targets")
DOWN = "target celery-workers/127.0.0.1:9 is DOWN: connection refused (last scrape 1s ago)"


def recorded_round(target_ok: bool = True) -> Verification:
    """A round of health and targets as judged from a 3.16 server, the targets row as asked."""
    results = [
        CheckResult("runs", "AC1 Prometheus runs", True, ["Prometheus 3.16.0"]),
        CheckResult("health", "AC1 healthy and ready", True, ["/-/healthy 200 in 2.1ms"]),
        CheckResult("jobs", "AC5 expected jobs", True, ["job fastapi-app has 1 active target"]),
        CheckResult("targets", "AC6 all targets UP", target_ok, [] if target_ok else [DOWN]),
    ]
    started = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
    return Verification("http://prom:9090", "3.16.0", results, started, {"config": "global: {}"})


def scraped(state: State) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics of ``state`` parsed back: (sample name, sorted labels) -> value."""
    text = metrics.exposition(metrics.registry(state.snapshot, "9.9.9")).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_metrics_of_a_judged_round() -> None:
    state = State(NAMES)
    state.record_round(recorded_round(False), 0.42, {"health": 0.01, "targets": 0.03}, 1.8e9)
    got = scraped(state)
    assert got[("promkit_check_ok", (("check", "targets"), ("item", "targets")))] == 0
    assert got[("promkit_check_ok", (("check", "targets"), ("item", "jobs")))] == 1
    assert got[("promkit_check_ok", (("check", "health"), ("item", "runs")))] == 1
    assert got[("promkit_check_failures", (("check", "targets"),))] == 1
    assert got[("promkit_check_failures", (("check", "health"),))] == 0
    assert got[("promkit_check_duration_seconds", (("check", "targets"),))] == 0.03
    assert got[("promkit_round_timestamp_seconds", ())] == 1.8e9
    assert got[("promkit_round_duration_seconds", ())] == 0.42
    assert got[("promkit_build_info", (("version", "9.9.9"),))] == 1
    assert got[("promkit_rounds_total", ())] == 1
    assert {v for (name, _), v in got.items() if name == "promkit_round_errors_total"} == {0}


def test_a_round_that_cannot_be_judged_counts_its_reason_and_keeps_the_last_verdicts() -> None:
    state = State(NAMES)
    state.record_round(recorded_round(True), 0.4, {}, 1.8e9)
    state.record_error(reason_of(prom.Unreachable("cannot reach")), "cannot reach Prometheus")
    got = scraped(state)
    assert got[("promkit_round_errors_total", (("reason", "unreachable"),))] == 1
    assert got[("promkit_round_errors_total", (("reason", "timeout"),))] == 0
    assert got[("promkit_check_ok", (("check", "targets"), ("item", "targets")))] == 1
    assert state.snapshot().failing == "cannot reach Prometheus"
    state.record_round(recorded_round(True), 0.4, {}, 1.9e9)
    assert state.snapshot().failing is None and state.snapshot().rounds == 3


def test_before_the_first_round_only_the_counters_and_build_info() -> None:
    names = {name for name, _ in scraped(State(NAMES))}
    assert names == {
        "promkit_build_info",
        "promkit_round_errors_total",
        "promkit_rounds_skipped_total",
        "promkit_rounds_total",
    }


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (prom.Unreachable("x"), "unreachable"),
        (prom.TimedOut("x"), "timeout"),
        (prom.HTTPFailure("x", 500), "http_error"),
        (prom.APIError("x", "bad_data", "y"), "api_error"),
        (UnexpectedPayload("x"), "unexpected_payload"),
        (ConfigError("x"), "config"),
        (KeyError("x"), "internal"),
    ],
)
def test_the_reason_of_an_error(error: BaseException, reason: str) -> None:
    assert reason_of(error) == reason and reason in REASONS


@pytest.mark.parametrize("row", rounds.ROWS)
def test_every_row_of_verify_all_belongs_to_a_check_of_it(row: str) -> None:
    assert metrics.group_of(row) in rounds.NAMES


def test_a_real_round_over_the_recorded_server() -> None:
    """The wiring: check_seconds from the round's own fetch timings, every row a metric."""
    with serving({"*": recorded_answers(delay=0.05)}) as server:
        client = PrometheusClient(server.url)
        outcome = rounds.run_round(rounds.NAMES, client, EXPECT, GUIDE, repo=REPO)
    seconds = rounds.check_seconds(outcome, rounds.NAMES)
    assert set(seconds) == set(rounds.NAMES)
    assert all(s >= 0.05 for s in seconds.values()), seconds
    state = State(rounds.NAMES)
    state.record_round(outcome, 1.0, seconds, 1.8e9)
    ok = {
        dict(labels)["item"]: v
        for (name, labels), v in scraped(state).items()
        if name == "promkit_check_ok"
    }
    assert ok == dict.fromkeys(rounds.ROWS, 1.0)


def test_the_page_shows_the_failing_line_and_the_json_is_verify_alls() -> None:
    state = State(NAMES)
    state.record_round(recorded_round(False), 0.42, {}, 1.8e9)
    state.record_skipped(2)
    html = pages.index_html(state.snapshot(), 1.0)
    assert DOWN in html and '<span class="FAIL">FAIL</span>' in html
    assert "round 1 of promkit serve" in html and "2 scheduled rounds skipped" in html
    outcome = recorded_round(False)
    assert pages.last_json(state.snapshot()) == formats.as_dict(
        outcome.url, outcome.version, outcome.results
    )


def test_before_any_round_the_page_says_why() -> None:
    state = State(NAMES)
    assert "the first round is running" in pages.index_html(state.snapshot(), 60)
    state.record_error("unreachable", "cannot reach Prometheus at http://x: refused")
    assert "cannot reach Prometheus at http://x: refused" in pages.index_html(state.snapshot(), 60)
    assert pages.last_json(state.snapshot()) is None


class SlowRounds:
    """An attempt taking ``seconds``, remembering how many ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.running, self.peak, self.calls = seconds, 0, 0, 0
        self.lock = threading.Lock()

    def __call__(self) -> Verification:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
        return recorded_round(True)


def run_for(attempt: Any, every_s: float, seconds: float) -> tuple[State, list[str]]:
    lines: list[str] = []
    state = State(NAMES)
    stop = threading.Event()
    worker = threading.Thread(
        target=service.Rounds(attempt, every_s, state, lines.append).run, args=(stop,)
    )
    worker.start()
    time.sleep(seconds)
    stop.set()
    worker.join(5)
    assert not worker.is_alive()
    return state, lines


def test_a_slow_round_is_reported_not_stacked() -> None:
    attempt = SlowRounds(0.25)
    state, lines = run_for(attempt, 0.1, 0.9)
    assert attempt.peak == 1
    assert state.snapshot().skipped >= 2 * (attempt.calls - 1) > 0, (state.snapshot(), lines)
    assert any("scheduled round(s) skipped" in line for line in lines), lines


def test_rounds_keep_to_the_schedule() -> None:
    attempt = SlowRounds(0.0)
    state, lines = run_for(attempt, 0.2, 0.9)
    assert 4 <= attempt.calls <= 6 and state.snapshot().skipped == 0, lines
    assert lines[0].startswith("round 1 (") and lines[0].endswith("all 4 checks pass")


def test_a_round_that_raises_is_an_error_of_its_reason_not_the_end() -> None:
    def attempt() -> Verification:
        raise prom.Unreachable("cannot reach Prometheus at http://x: connection refused")

    state, lines = run_for(attempt, 0.1, 0.35)
    assert state.snapshot().errors["unreachable"] >= 3
    assert (
        lines[0]
        == "round 1: could not verify: cannot reach Prometheus at http://x: connection refused"
    )


@pytest.fixture
def served() -> Iterator[tuple[str, State]]:
    state = State(NAMES)
    server = http.bind("127.0.0.1", 0, service.routes(state, 1.0, lambda: True))
    server.start()
    yield f"http://127.0.0.1:{server.port}", state
    server.stop()


def test_the_routes(served: tuple[str, State]) -> None:
    url, state = served
    assert requests.get(f"{url}/api/v1/last", timeout=5).status_code == 503
    state.record_round(recorded_round(False), 0.4, {}, 1.8e9)
    answer = requests.get(f"{url}/metrics", timeout=5)
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'promkit_check_ok{check="targets",item="targets"} 0.0' in answer.text
    assert requests.get(f"{url}/api/v1/last", timeout=5).json()["summary"]["failed"] == ["targets"]
    assert DOWN in requests.get(url, timeout=5).text
    assert requests.get(f"{url}/healthz", timeout=5).text == "ok\n"
    assert requests.get(f"{url}/nothing", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("given", "seconds"), [(None, 60), ("1s", 1), ("500ms", 0.5), ("2", 2), ("1m30s", 90)]
)
def test_every(given: str | None, seconds: float) -> None:
    assert options.parse_every(given) == seconds


@pytest.mark.parametrize("given", ["0", "0s", "-1", "-5s", "soon", "nan"])
def test_every_must_be_a_positive_duration(given: str) -> None:
    with pytest.raises(ConfigError, match=f"--every must be a positive duration .*got '{given}'"):
        options.parse_every(given)


@pytest.mark.parametrize(
    ("given", "address"),
    [(None, ("127.0.0.1", 9464)), ("0.0.0.0:80", ("0.0.0.0", 80)), ("[::1]:9464", ("::1", 9464))],
)
def test_listen(given: str | None, address: tuple[str, int]) -> None:
    assert options.parse_listen(given) == address


@pytest.mark.parametrize("given", ["9464", ":9464", "127.0.0.1:", "127.0.0.1:x", "h:70000"])
def test_listen_must_be_host_and_port(given: str) -> None:
    with pytest.raises(ConfigError, match=f"--listen must be HOST:PORT .*got '{given}'"):
        options.parse_listen(given)


def test_a_taken_address_is_refused_in_one_line() -> None:
    with taken_port() as port, pytest.raises(http.ListenError) as caught:
        http.bind("127.0.0.1", port, {})
    assert str(caught.value) == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use: give --listen a free address"
    )


def test_checks() -> None:
    assert options.parse_checks(None, kubernetes=False) == rounds.NAMES
    assert options.parse_checks("all", kubernetes=True) == (*rounds.NAMES, "discovery")
    assert options.parse_checks("targets, health", kubernetes=False) == ("health", "targets")
    with pytest.raises(ConfigError, match=r"unknown checks \['speed'\]: choose from health"):
        options.parse_checks("targets,speed", kubernetes=False)


def test_a_free_port_is_bound_before_anything_starts() -> None:
    port = free_port()
    server = http.bind("127.0.0.1", port, {})
    try:
        with pytest.raises(http.ListenError):
            http.bind("127.0.0.1", port, {})
    finally:
        server.server_close()
