"""verify.rules against real Prometheus servers scraping the real sample app and worker.

The green server loads the repo's rule files (the ones compose.prometheus_config
names) while traffic is posted, some of it failing, so the error ratio's failure
series exist; the faulty one loads tests/fixtures/rules/faults.rules.yml.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promkit.local.traffic import post_webhooks
from promkit.verify import round as rounds
from tests.support.sample_app import SampleStack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REPO_RULES = sorted((ROOT / "config" / "prometheus" / "rules").glob("*.rules.yml"))
FAULT_RULES = ROOT / "tests" / "fixtures" / "rules" / "faults.rules.yml"


@pytest.fixture(scope="module")
def stack() -> Iterator[SampleStack]:
    """Redis, the app and its worker (a third of the enhancements fail), with traffic."""
    sample = SampleStack(SAMPLE_APP_FAILURE_RATE="0.3")
    try:
        sample.start_redis()
        sample.start_app()
        sample.start_worker()
        summary = post_webhooks(sample.app_url, count=30, duration_s=30, invalid_every=10)
        assert summary.failed == 0, summary
        yield sample
    finally:
        print(sample.logs())  # shown by pytest only when a test failed
        sample.stop_all()


def server_for(processes: Any, binary: str, it: Any, stack: SampleStack, rules: list[Path]) -> Any:
    """A server scraping the app and worker every second, loading these rule files."""
    jobs = [
        it.job("fastapi-app", f"127.0.0.1:{stack.app_port}"),
        it.job("celery-workers", f"127.0.0.1:{stack.metrics_port}"),
    ]
    server = processes.prometheus(
        binary,
        {**it.config(*jobs, scrape="1s", evaluation="2s"), "rule_files": ["rules/*.rules.yml"]},
        files={f"rules/{path.name}": path.read_text() for path in rules},
        scraped=True,
    )
    server.wait_scraped(scrapes=3)
    return server


@pytest.fixture(scope="module")
def green(module_processes: Any, prometheus_bin: str, it: Any, stack: SampleStack) -> Any:
    return server_for(module_processes, prometheus_bin, it, stack, REPO_RULES)


@pytest.fixture(scope="module")
def faulty(module_processes: Any, prometheus_bin: str, it: Any, stack: SampleStack) -> Any:
    return server_for(module_processes, prometheus_bin, it, stack, [FAULT_RULES])


def test_the_repos_rules_are_green(green: Any, it: Any, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    done = it.inv("verify.rules", "--url", green.url, "--wait", "60", "--report", str(folder))
    out = it.output(done)
    assert done.returncode == 0, out
    assert "all 3 checks pass" in done.stdout, out
    assert "group sample-service.recording: 3 rules, evaluated " in out
    assert "group sample-service.alerts: 4 rules, evaluated " in out
    assert 'enhancement_requests_total{status="failure"} matches ' in out
    assert "service:enhancement_error_ratio:rate5m matches 1 series" in out
    assert "alert Watchdog (group sample-service.alerts) is firing since " in out
    # The evidence report keeps the rules answer and each selector's count().
    rules = json.loads((folder / "answers/rules.json").read_text())
    assert {g["name"] for g in rules["groups"]} == {
        "sample-service.recording",
        "sample-service.alerts",
    }
    counted = [
        json.loads(path.read_text())["promql"] for path in (folder / "answers").glob("selector-*")
    ]
    # One per distinct selector of the repo's rules (test_rule_checks pins the list).
    repo = rounds.repo_rules(ROOT / "config" / "prometheus" / "prometheus.yml")
    assert len(counted) == 6
    assert sorted(counted) == sorted(f"count({s})" for s in repo.selectors())
    page = (folder / "index.html").read_text()
    assert "check-rule-selectors" in page and "answers/selector-0.json" in page


def test_rule_faults_are_each_named(faulty: Any, it: Any) -> None:
    # The rules expected are the ones this server loads (its own prometheus.yml).
    env = it.env(
        INVOKE_COMPOSE_PROMETHEUS_CONFIG=str(faulty.workdir / "prometheus.yml"),
        INVOKE_EXPECT_SCRAPE_INTERVAL="1s",  # old enough after 3 scrapes: no young-server wait
        # A config of one's own expects no Watchdog unless it is named.
        INVOKE_EXPECT_WATCHDOG="Watchdog",
    )
    done = it.inv("verify.rules", "--url", faulty.url, env=env)
    out = it.output(done)
    assert done.returncode == 1, out
    assert "0/3 checks pass; failing: rules, rule selectors, watchdog" in done.stdout, out
    assert (
        "record tenant:enhancement_requests:doubled (group faults.recording in "
        f"{faulty.workdir / 'rules' / 'faults.rules.yml'}) fails to evaluate: "
        'found duplicate series for the match group {tenant_id="'
    ) in out
    assert "many-to-many matching not allowed: matching labels must be unique on one side" in out
    assert "group faults.daily has not been evaluated yet (every 1d)" in out
    assert (
        "record service:no_such:rate1m (faults.rules.yml:9): its selector no_such_metric_total "
        "matches no series: is its metric scraped (inv verify.targets), with traffic "
        "(inv traffic)?"
    ) in out
    config = faulty.workdir / "prometheus.yml"
    assert f"the rules of {config} define no Watchdog alert: add one that always fires" in out
    assert "Traceback" not in out


def test_a_server_without_the_repos_rules_misses_them_and_the_watchdog(
    faulty: Any, it: Any
) -> None:
    env = it.env(INVOKE_EXPECT_SCRAPE_INTERVAL="1s")
    done = it.inv("verify.rules", "--url", faulty.url, env=env)
    out = it.output(done)
    assert done.returncode == 1, out
    assert (
        "group sample-service.recording (sample-service.rules.yml) is not loaded on the server "
        "(it loads: faults.alerts, faults.daily, faults.recording)"
    ) in out
    # Renamed there (DeadMansSwitch): the repo's Watchdog is not loaded.
    assert (
        "alert Watchdog (sample-service.rules.yml:24) is not loaded on the server: no alert is "
        "named Watchdog"
    ) in out


def test_a_config_without_rule_files_fails_with_a_hint(green: Any, it: Any, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    env = it.env(INVOKE_COMPOSE_PROMETHEUS_CONFIG=str(config))
    done = it.inv("verify.rules", "--url", green.url, env=env)
    out = it.output(done)
    assert done.returncode == 1, out
    assert f"the Prometheus config {config} loads no rule groups" in out
    # Declared without rules (expect.rules false; Invoke reads 0 as false): it passes, the
    # groups the server loads anyway still judged.
    declared = it.inv("verify.rules", "--url", green.url, env={**env, "INVOKE_EXPECT_RULES": "0"})
    assert declared.returncode == 0, it.output(declared)
    assert "no rules expected (expect.rules is false)" in declared.stdout
    assert "group sample-service.alerts: 4 rules, evaluated " in declared.stdout
