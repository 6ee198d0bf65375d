"""Each check as a pure function over payloads recorded from real Prometheus 2.42 and 3.16.

The recordings live in tests/fixtures/prometheus-*/ (re-record with
tests/fixtures/record.py); failure shapes are recorded too (faults/) or are
edited copies of a recording, made in the test that needs them.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from promkit.core.settings import JobExpectation
from promkit.verify import checks
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import Answer, UnexpectedPayload, parse_time

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VERSIONS = ["prometheus-2.42", "prometheus-3.16"]
JOBS = (JobExpectation("fastapi-app"), JobExpectation("celery-workers"))


def envelope(version: str, scenario: str, name: str) -> Any:
    return json.loads((FIXTURES / version / scenario / name).read_text())


def data(version: str, scenario: str, name: str) -> Any:
    return envelope(version, scenario, f"{name}.json")["data"]


def config_yaml(version: str, scenario: str) -> str:
    return str(data(version, scenario, "config")["yaml"])


def edited_config(version: str, edit: Any) -> str:
    config = yaml.safe_load(config_yaml(version, "green"))
    edit(config)
    return str(yaml.safe_dump(config))


def page(version: str, name: str, folder: str = "green") -> Answer | None:
    path = FIXTURES / version / folder / f"ui-{name}.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return Answer(
        raw["path"],
        "http://127.0.0.1:9090" + raw["url_path"],
        raw["status"],
        3.0,
        raw["content_type"],
        raw["text"] or "x" * raw["length"],
    )


def probe(path: str, status: int = 200, elapsed_ms: float = 2.0, text: str = "OK.") -> Answer:
    return Answer(path, "http://127.0.0.1:9090" + path, status, elapsed_ms, "text/plain", text)


versions = pytest.mark.parametrize("version", VERSIONS)


# -- runs and health -------------------------------------------------------------


@versions
def test_runs_passes_and_names_the_version(version: str) -> None:
    result = checks.check_runs(
        data(version, "green", "buildinfo"), data(version, "green", "runtimeinfo")
    )
    assert result.ok and result.criterion.startswith("AC1")
    assert result.evidence[0].startswith(f"Prometheus {version.split('-')[1]}.0")


def test_unstamped_build_says_so() -> None:
    result = checks.check_runs({"version": ""}, {"reloadConfigSuccess": True})
    assert result.ok
    assert "Prometheus of unknown version (unstamped build)" in result.evidence[0]


@versions
def test_runs_fails_when_the_last_config_reload_failed(version: str) -> None:
    runtime = dict(data(version, "green", "runtimeinfo"), reloadConfigSuccess=False)
    result = checks.check_runs(data(version, "green", "buildinfo"), runtime)
    assert not result.ok
    assert "last configuration reload FAILED" in " ".join(result.evidence)


def test_health_passes_within_budget() -> None:
    result = checks.check_health(probe("/-/healthy"), probe("/-/ready"), 50)
    assert result.ok and result.criterion.startswith("AC5")
    assert result.evidence[0].startswith("/-/healthy 200 in 2.0ms")


def test_health_fails_on_slow_answer_naming_the_endpoint_and_budget() -> None:
    result = checks.check_health(probe("/-/healthy"), probe("/-/ready", elapsed_ms=73.4), 50)
    assert not result.ok
    assert "/-/ready took 73.4ms, over the 50ms budget" in result.evidence[1]


def test_health_fails_on_error_status() -> None:
    result = checks.check_health(probe("/-/healthy", 500, text="boom"), probe("/-/ready"), 50)
    assert not result.ok
    assert result.evidence[0] == "/-/healthy answered 500, expected 200: boom"


# -- jobs (AC2) ---------------------------------------------------------------------


@versions
def test_jobs_pass_on_green(version: str) -> None:
    result = checks.check_jobs(
        data(version, "green", "targets"), config_yaml(version, "green"), JOBS
    )
    assert result.ok and result.criterion.startswith("AC2")
    assert any(line.startswith("job fastapi-app has 1 active targets") for line in result.evidence)


@versions
def test_job_missing_from_config_is_named(version: str) -> None:
    jobs = (*JOBS, JobExpectation("kubernetes-pods"))
    result = checks.check_jobs(
        data(version, "green", "targets"), config_yaml(version, "green"), jobs
    )
    assert not result.ok
    line = result.evidence[-1]
    assert "job kubernetes-pods has 0 active targets" in line
    assert "not in Prometheus' configuration" in line and "celery-workers, fastapi-app" in line


@versions
def test_job_whose_targets_were_all_dropped_says_relabelling(version: str) -> None:
    result = checks.check_jobs(
        data(version, "faults", "targets"),
        config_yaml(version, "faults"),
        (JobExpectation("all-dropped"),),
    )
    assert not result.ok
    assert "discovery found 1 but relabelling dropped them all" in result.evidence[0]


@versions
def test_kubernetes_job_with_nothing_discovered_points_at_rbac(version: str) -> None:
    def add_k8s_job(config: dict[str, Any]) -> None:
        config["scrape_configs"].append(
            {"job_name": "kubernetes-pods", "kubernetes_sd_configs": [{"role": "pod"}]}
        )

    result = checks.check_jobs(
        data(version, "green", "targets"),
        edited_config(version, add_k8s_job),
        (JobExpectation("kubernetes-pods"),),
    )
    assert not result.ok
    assert "nothing was discovered for job kubernetes-pods" in result.evidence[0]
    assert "RBAC (ClusterRole/ClusterRoleBinding)" in result.evidence[0]


@versions
def test_exact_count_per_job(version: str) -> None:
    targets = data(version, "faults", "targets")
    config = config_yaml(version, "faults")
    ok = checks.check_jobs(targets, config, (JobExpectation("celery-workers", 2, exact=2),))
    wrong = checks.check_jobs(targets, config, (JobExpectation("celery-workers", 3, exact=3),))
    assert ok.ok
    assert not wrong.ok
    assert "job celery-workers has 2 active targets, expected exactly 3" in wrong.evidence[0]


@versions
def test_minimum_count_per_job(version: str) -> None:
    result = checks.check_jobs(
        data(version, "green", "targets"),
        config_yaml(version, "green"),
        (JobExpectation("fastapi-app", minimum=2),),
    )
    assert not result.ok
    assert result.evidence == ["job fastapi-app has 1 active targets, expected at least 2"]


def test_no_expected_jobs_is_a_failure() -> None:
    result = checks.check_jobs(data(VERSIONS[0], "green", "targets"), None, ())
    assert not result.ok and "expect.jobs" in result.evidence[0]


# -- targets (AC6) ------------------------------------------------------------------


@versions
def test_targets_pass_on_green_with_evidence_per_target(version: str) -> None:
    result = checks.check_targets(data(version, "green", "targets"), 100)
    assert result.ok and result.criterion.startswith("AC6")
    assert len(result.evidence) == 2
    assert all(" up " in line and line.endswith("ms") for line in result.evidence)
    assert any(line.startswith("fastapi-app 127.0.0.1:") for line in result.evidence)


@versions
def test_down_target_is_named_with_its_error(version: str) -> None:
    targets = data(version, "faults", "targets")
    down = next(t for t in targets["activeTargets"] if t["health"] == "down")
    scraped = parse_time(down["lastScrape"])
    assert scraped is not None
    result = checks.check_targets(targets, 100, now=scraped.replace(microsecond=0).astimezone(UTC))
    assert not result.ok
    line = next(line for line in result.evidence if "DOWN" in line)
    assert line.startswith(f"target celery-workers/{down['labels']['instance']} is DOWN: ")
    assert "connection refused" in line and line.endswith("s ago)")
    assert 'Get "' not in line


@versions
def test_slow_target_is_named_with_duration_and_budget(version: str) -> None:
    result = checks.check_targets(data(version, "faults", "targets"), 100)
    line = next(line for line in result.evidence if "SLOW" in line)
    assert line.startswith("target slow-app/127.0.0.1:")
    assert "budget 100ms" in line
    assert not result.ok


@versions
def test_budget_is_a_setting(version: str) -> None:
    result = checks.check_targets(data(version, "green", "targets"), 0.0001)
    assert not result.ok and all("SLOW" in line for line in result.evidence)


@versions
def test_target_never_scraped_is_not_yet_up(version: str) -> None:
    targets = copy.deepcopy(data(version, "green", "targets"))
    first = targets["activeTargets"][0]
    first.update(health="unknown", lastScrape="0001-01-01T00:00:00Z", lastScrapeDuration=0)
    result = checks.check_targets(targets, 100)
    assert not result.ok
    assert "has not been scraped yet (health unknown)" in result.evidence[0]


@versions
def test_up_target_with_error_fails(version: str) -> None:
    targets = copy.deepcopy(data(version, "green", "targets"))
    targets["activeTargets"][0]["lastError"] = "sample limit exceeded"
    result = checks.check_targets(targets, 100)
    assert not result.ok
    assert "is up but reports: sample limit exceeded" in result.evidence[0]


def test_no_active_targets_fails() -> None:
    result = checks.check_targets({"activeTargets": [], "droppedTargets": []}, 100)
    assert not result.ok and "no active targets" in result.evidence[0]


def test_targets_payload_of_wrong_shape_is_a_clean_error() -> None:
    with pytest.raises(UnexpectedPayload, match="activeTargets is not a list"):
        checks.check_targets({"activeTargets": "nope"}, 100)


# -- interval (AC3) --------------------------------------------------------------------


@versions
def test_interval_passes_on_green(version: str) -> None:
    result = checks.check_interval(config_yaml(version, "green"), "15s", "15s")
    assert result.ok and result.criterion == "AC3 interval 15s"
    assert result.evidence[-1] == "jobs scraped every 15s: fastapi-app, celery-workers"


@versions
def test_global_interval_mismatch_names_the_setting(version: str) -> None:
    def slow_down(config: dict[str, Any]) -> None:
        config["global"]["scrape_interval"] = "30s"
        for job in config["scrape_configs"]:
            job["scrape_interval"] = "30s"  # as Prometheus serves it: filled in per job

    result = checks.check_interval(edited_config(version, slow_down), "15s", "15s")
    assert not result.ok
    assert result.evidence[0] == (
        "global scrape_interval is 30s, expected 15s: set global.scrape_interval"
    )
    assert not any("overrides" in line for line in result.evidence)


@versions
def test_job_overriding_the_interval_is_named(version: str) -> None:
    def override(config: dict[str, Any]) -> None:
        config["scrape_configs"][1]["scrape_interval"] = "30s"

    result = checks.check_interval(edited_config(version, override), "15s", "15s")
    assert not result.ok
    assert "job celery-workers overrides the scrape interval: 30s instead of 15s" in (
        " ".join(result.evidence)
    )


@versions
def test_recorded_faults_show_global_and_override(version: str) -> None:
    result = checks.check_interval(config_yaml(version, "faults"), "15s", "15s")
    text = "\n".join(result.evidence)
    assert "global scrape_interval is 1s" in text and "global evaluation_interval is 1s" in text
    assert "job override overrides the scrape interval: 2s" in text


def test_equal_durations_in_other_spelling_pass() -> None:
    config = "global: {scrape_interval: 1m, evaluation_interval: 60s}\nscrape_configs: []\n"
    assert checks.check_interval(config, "60s", "1m").ok


def test_config_that_is_not_yaml_is_a_clean_error() -> None:
    with pytest.raises(UnexpectedPayload):
        checks.check_interval("global: [unclosed", "15s", "15s")


# -- retention (AC4) ------------------------------------------------------------------------


@versions
def test_retention_passes_on_green(version: str) -> None:
    result = checks.check_retention(
        data(version, "green", "runtimeinfo"), data(version, "green", "flags"), "30d"
    )
    assert result.ok and result.criterion == "AC4 retention 30d"
    assert result.evidence[0] == "storageRetention is '30d' (runtimeinfo)"
    assert "flag --storage.tsdb.retention.time=30d" in result.evidence


@versions
def test_retention_15d_fails_and_reports_the_size_limit(version: str) -> None:
    result = checks.check_retention(
        data(version, "faults", "runtimeinfo"), data(version, "faults", "flags"), "30d"
    )
    assert not result.ok
    assert result.evidence[0] == "storageRetention is '15d or 1GiB' (runtimeinfo)"
    assert (
        "retention is 15d, expected 30d: set --storage.tsdb.retention.time=30d" in result.evidence
    )
    assert "size limit 1GiB" in result.evidence


def test_retention_in_weeks_equals_days() -> None:
    result = checks.check_retention({"storageRetention": "4w2d or 10GiB"}, {}, "30d")
    assert result.ok and "size limit 10GiB" in result.evidence


def test_size_only_retention_fails() -> None:
    result = checks.check_retention({"storageRetention": "1GiB"}, {}, "30d")
    assert not result.ok
    assert "no time-based retention is in force" in result.evidence[1]


@versions
def test_retention_from_config_file_differs_from_flag(version: str) -> None:
    flags = dict(data(version, "green", "flags"))
    flags["storage.tsdb.retention.time"] = "15d"
    result = checks.check_retention(data(version, "green", "runtimeinfo"), flags, "30d")
    assert result.ok
    assert any("=15d differs from the running retention" in line for line in result.evidence)


def test_deprecated_retention_flag_is_noted() -> None:
    flags = {"storage.tsdb.retention": "30d", "storage.tsdb.retention.time": "0s"}
    result = checks.check_retention({"storageRetention": "30d"}, flags, "30d")
    assert result.ok
    assert any("deprecated flag --storage.tsdb.retention=30d" in line for line in result.evidence)


def test_missing_retention_fails() -> None:
    result = checks.check_retention({}, {}, "30d")
    assert not result.ok and result.evidence[0] == "storageRetention is 'missing' (runtimeinfo)"


# -- UI (AC8) --------------------------------------------------------------------------------


def test_debian_2_42_classic_ui_passes() -> None:
    root, targets, asset = (page("prometheus-2.42", n) for n in ("root", "targets", "asset"))
    assert root is not None
    result = checks.check_ui(root, targets, asset)
    assert result.ok and result.criterion.startswith("AC8")
    assert result.evidence[0].startswith("UI landing page (/classic/graph) 200, HTML page")
    assert result.evidence[1].startswith("targets page (/classic/targets) 200")


def test_3_x_ui_passes_naming_its_pages_and_script() -> None:
    root, targets, asset = (page("prometheus-3.16", n) for n in ("root", "targets", "asset"))
    assert root is not None
    result = checks.check_ui(root, targets, asset)
    assert result.ok, result.evidence
    assert result.evidence[0].startswith("UI landing page (/query) 200, HTML page 'Prometheus")
    assert result.evidence[1].startswith("targets page (/targets) 200")
    assert result.evidence[2].startswith("UI script /assets/index-")


def test_3_x_built_without_ui_assets_fails_clearly() -> None:
    root = page("prometheus-3.16", "root", folder="no-ui")
    assert root is not None
    result = checks.check_ui(root, None, None)
    assert not result.ok
    assert result.evidence[0].startswith("UI landing page (/query) answered 500, expected 200")
    assert "built without its web UI assets" in result.evidence[0]


def test_html_page_that_is_not_prometheus_fails() -> None:
    other = Answer("/", "http://h/", 200, 1.0, "text/html", "<title>Welcome to nginx</title>")
    result = checks.check_ui(other, None, None)
    assert not result.ok and "is not Prometheus' web UI" in result.evidence[0]


def test_ui_page_without_script_or_with_broken_script_fails() -> None:
    root = page("prometheus-2.42", "root")
    targets = page("prometheus-2.42", "targets")
    assert root is not None
    stub = Answer("/", root.url, 200, 1.0, "text/html", "<title>Prometheus</title>")
    assert "loads no script" in checks.check_ui(stub, targets, None).evidence[-1]
    broken = Answer("x", "http://h/static/app.js", 404, 1.0, "text/plain", "404 page not found")
    result = checks.check_ui(root, targets, broken)
    assert not result.ok and "/static/app.js answered 404" in result.evidence[-1]


def test_targets_page_missing_fails() -> None:
    root, asset = page("prometheus-2.42", "root"), page("prometheus-2.42", "asset")
    assert root is not None
    missing = Answer("/targets", "http://h/targets", 404, 1.0, "text/plain", "404 page not found")
    result = checks.check_ui(root, missing, asset)
    assert not result.ok and "targets page (/targets) answered 404" in result.evidence[1]


def test_html_helpers() -> None:
    html = '<html><head><TITLE>\n Prometheus  Time</TITLE><script src="./static/js/main.js">'
    assert checks.html_title(html) == "Prometheus Time"
    assert checks.first_script(html) == "./static/js/main.js"
    assert checks.first_script("<script>inline()</script>") is None


# -- queries (AC7) ------------------------------------------------------------------------------


def recorded_query(version: str, name: str) -> tuple[DocumentedQuery, Any, str | None]:
    raw = envelope(version, "green", f"query-{name}.json")
    query = DocumentedQuery(raw["name"], "promql", 7)
    answer = raw["answer"]
    if answer["status"] == "error":
        return query, None, f"{answer['errorType']}: {answer['error']}"
    return query, answer["data"], None


@versions
@pytest.mark.parametrize("index", ["1", "2", "3", "4", "5"])
def test_documented_queries_pass_on_recorded_data(version: str, index: str) -> None:
    result = checks.check_query(*recorded_query(version, index))
    assert result.ok and result.criterion.startswith("AC7")
    assert result.evidence[0].split(" ")[0].isdigit()


@versions
def test_empty_result_fails_naming_the_query(version: str) -> None:
    result = checks.check_query(*recorded_query(version, "empty"))
    assert not result.ok
    assert result.name == "query: empty"
    assert result.evidence == [
        "query 'empty' returned no data: are its metrics scraped (inv verify.targets), "
        "and is there traffic (the stack's demo traffic: traffic.demo_rate; or inv traffic)?",
        "promql",
    ]


@versions
def test_invalid_query_fails_with_the_parse_error(version: str) -> None:
    result = checks.check_query(*recorded_query(version, "invalid"))
    assert not result.ok
    assert result.evidence[0].startswith("query 'invalid' (line 7) failed: bad_data: ")
    assert "parse error" in result.evidence[0]
    assert result.final, "no scrape can make it parse"


@pytest.mark.parametrize(
    ("error", "final"),
    [
        ("bad_data: 1:5: parse error: unclosed left parenthesis", True),
        ("timeout: query timed out in expression evaluation", False),
        ("execution: many-to-many matching not allowed", False),
    ],
)
def test_only_a_query_the_server_cannot_parse_is_final(error: str, final: bool) -> None:
    result = checks.check_query(DocumentedQuery("q", "x", 1), None, error)
    assert not result.ok
    assert result.final is final


def test_no_data_is_not_final() -> None:
    answer = {"resultType": "vector", "result": []}
    assert not checks.check_query(DocumentedQuery("q", "x", 1), answer).final


def test_nan_only_means_no_data_in_window() -> None:
    answer = {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "NaN"]}]}
    result = checks.check_query(DocumentedQuery("Error rate", "x", 1), answer)
    assert not result.ok
    assert "returned only NaN: no data in window: post traffic (inv traffic)" in result.evidence[0]


def test_some_nan_series_pass_and_are_reported() -> None:
    answer = {
        "resultType": "vector",
        "result": [
            {"metric": {"tenant_id": "a"}, "value": [1.0, "NaN"]},
            {"metric": {"tenant_id": "b"}, "value": [1.0, "0.25"]},
        ],
    }
    result = checks.check_query(DocumentedQuery("rate", "x", 1), answer)
    assert result.ok
    assert result.evidence == ['2 series: {tenant_id="b"} 0.25; 1 series NaN']


def test_matrix_and_scalar_results() -> None:
    matrix = {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "3"]]}]}
    scalar = {"resultType": "scalar", "result": [1.0, "42"]}
    assert checks.check_query(DocumentedQuery("m", "x", 1), matrix).evidence == ["1 series: {} 3"]
    assert checks.check_query(DocumentedQuery("s", "x", 1), scalar).ok


def test_time_parsing_handles_nanoseconds_and_zero() -> None:
    parsed = parse_time("2026-11-28T02:09:50.47701304Z")
    assert parsed == datetime(2026, 11, 28, 2, 9, 50, 477013, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time(12) is None
