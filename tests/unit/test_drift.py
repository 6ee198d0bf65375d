"""promkit.drift: the repo's rendered view against what a server answered, line by line.

The served payloads are Prometheus 2.42's answers for the repo's own prometheus.yml
and rule file (defaults filled in, rule_files made absolute, PromQL reprinted).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from promkit.core.errors import ValidationError
from promkit.core.settings import ROOT
from promkit.rules.files import load_rule_text, repo_groups
from promkit.verify import drift
from promkit.verify.drift import RepoView, ServerView
from promkit.verify.result import UnexpectedPayload

#: The folder of the server's --config.file, where it made the repo's relative paths absolute.
DIR = "/etc/prometheus"
CONFIG_FILE = ROOT / "config/prometheus/prometheus.yml"
REPO_CONFIG = yaml.safe_load(CONFIG_FILE.read_text())
REPO_ARGS = (
    "--config.file=/etc/prometheus/prometheus.yml",
    "--storage.tsdb.path=/prometheus",
    "--storage.tsdb.retention.time=30d",
    "--web.enable-lifecycle",
)


def _job(name: str, target: str) -> dict[str, Any]:
    return {
        "job_name": name,
        "honor_timestamps": True,
        "scrape_interval": "15s",
        "scrape_timeout": "10s",
        "metrics_path": "/metrics",
        "scheme": "http",
        "follow_redirects": True,
        "enable_http2": True,
        "static_configs": [{"targets": [target]}],
    }


SERVED_CONFIG: dict[str, Any] = {
    "global": {"scrape_interval": "15s", "scrape_timeout": "10s", "evaluation_interval": "15s"},
    "rule_files": ["/etc/prometheus/rules/*.rules.yml"],
    "scrape_configs": [
        _job("prometheus", "localhost:9090"),
        _job("fastapi-app", "app:8000"),
        _job("celery-workers", "worker:8001"),
    ],
}
SERVED_FLAGS = {
    "config.file": "/etc/prometheus/prometheus.yml",
    "storage.tsdb.path": "/prometheus",
    "storage.tsdb.retention.time": "30d",
    "storage.tsdb.retention.size": "0B",
    "web.enable-lifecycle": "true",
    "web.listen-address": "0.0.0.0:9090",
}
RUNTIMEINFO = {"reloadConfigSuccess": True, "lastConfigTime": "2026-12-02T14:02:27Z"}


def _alert(name: str, query: str, duration: float, severity: str) -> dict[str, Any]:
    return {
        "state": "inactive",
        "name": name,
        "query": query,
        "duration": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": "..."},
        "health": "ok",
        "type": "alerting",
    }


def _record(name: str, query: str) -> dict[str, Any]:
    return {"name": name, "query": query, "health": "ok", "type": "recording"}


FILE = "/etc/prometheus/rules/sample-service.rules.yml"
SERVED_RULES: dict[str, Any] = {
    "groups": [
        {
            "name": "sample-service.alerts",
            "file": FILE,
            "interval": 15,
            "rules": [
                _alert("Watchdog", "vector(1)", 0, "none"),
                _alert("TargetDown", "up == 0", 60, "critical"),
                _alert(
                    "HighErrorRate",
                    "service:enhancement_error_ratio:rate5m >= 0.05",
                    300,
                    "warning",
                ),
                _alert(
                    "QueueGrowing", "queue_depth - queue_depth offset 10m >= 50", 300, "warning"
                ),
            ],
        },
        {
            "name": "sample-service.recording",
            "file": FILE,
            "interval": 15,
            "rules": [
                _record(
                    "tenant:enhancement_requests:rate1m",
                    "sum by (tenant_id) (rate(enhancement_requests_total[1m]))",
                ),
                _record(
                    "service:enhancement_error_ratio:rate5m",
                    'sum(increase(enhancement_requests_total{status="failure"}[5m])) / '
                    "sum(increase(enhancement_requests_total[5m]))",
                ),
                _record(
                    "service:enhancement_duration_seconds:p95_5m",
                    "histogram_quantile(0.95, sum by (le) "
                    "(rate(enhancement_duration_seconds_bucket[5m])))",
                ),
            ],
        },
    ]
}


def repo(**changes: Any) -> RepoView:
    view = RepoView(
        copy.deepcopy(REPO_CONFIG), REPO_ARGS, repo_groups(CONFIG_FILE), ("prometheus.yml",)
    )
    return RepoView(**{**view.__dict__, **changes})


def server(**changes: Any) -> ServerView:
    view = ServerView(
        copy.deepcopy(SERVED_CONFIG),
        dict(SERVED_FLAGS),
        copy.deepcopy(SERVED_RULES),
        dict(RUNTIMEINFO),
    )
    return ServerView(**{**view.__dict__, **changes})


def test_the_repo_files_against_the_server_running_them_match() -> None:
    found = drift.differences(repo(), server())
    assert found == []
    assert drift.verdict(repo(), found) == "server matches prometheus.yml"


# --- config ------------------------------------------------------------------------------


def test_defaults_the_server_fills_in_are_not_differences() -> None:
    assert drift.config_differences({"global": {"scrape_interval": "15s"}}, SERVED_CONFIG) == []


@pytest.mark.parametrize(
    ("repo_value", "served_value"),
    [("1m", "60s"), ("60s", "1m"), ("90s", "1m30s"), ("720h", "30d"), ("2w", "14d")],
)
def test_durations_compare_as_durations(repo_value: str, served_value: str) -> None:
    served = {"global": {"scrape_interval": served_value}}
    assert drift.config_differences({"global": {"scrape_interval": repo_value}}, served) == []


def test_a_changed_timeout_names_the_job_and_both_values() -> None:
    served = copy.deepcopy(SERVED_CONFIG)
    served["scrape_configs"][1]["scrape_timeout"] = "5s"
    # The repo's job sets no timeout: it takes the global 10s, as Prometheus' jobs do.
    assert "scrape_timeout" not in REPO_CONFIG["scrape_configs"][1]
    assert drift.config_differences(REPO_CONFIG, served, DIR) == [
        "scrape_configs[fastapi-app].scrape_timeout: repo 10s, server 5s"
    ]
    config = copy.deepcopy(REPO_CONFIG)
    config["scrape_configs"][1]["scrape_timeout"] = "5s"
    assert drift.config_differences(config, served, DIR) == []


def test_a_changed_global_is_named_once_not_for_every_job_inheriting_it() -> None:
    served = copy.deepcopy(SERVED_CONFIG)
    served["global"]["scrape_interval"] = "1m"
    for job in served["scrape_configs"]:
        job["scrape_interval"] = "1m"
    assert drift.config_differences(REPO_CONFIG, served, DIR) == [
        "global.scrape_interval: repo 15s, server 1m"
    ]


def test_jobs_are_matched_by_name_not_position() -> None:
    served = copy.deepcopy(SERVED_CONFIG)
    served["scrape_configs"].reverse()
    assert drift.config_differences(REPO_CONFIG, served, DIR) == []


def test_a_job_on_one_side_only_is_named() -> None:
    served = copy.deepcopy(SERVED_CONFIG)
    served["scrape_configs"][2]["job_name"] = "celery"
    assert drift.config_differences(REPO_CONFIG, served, DIR) == [
        "scrape_configs[celery-workers]: only in the repo",
        "scrape_configs[celery]: only on the server",
    ]


def test_a_key_the_server_lacks_is_a_difference() -> None:
    config = copy.deepcopy(REPO_CONFIG)
    config["global"]["query_log_file"] = "/prometheus/queries.log"
    assert drift.config_differences(config, SERVED_CONFIG, DIR) == [
        "global.query_log_file: repo /prometheus/queries.log, server lacks it"
    ]


def test_lists_compare_by_index_and_scalar_lists_as_a_whole() -> None:
    served = copy.deepcopy(SERVED_CONFIG)
    served["scrape_configs"][1]["static_configs"][0]["targets"] = ["app:8001"]
    served["scrape_configs"][2]["static_configs"].append({"targets": ["extra:1"]})
    assert drift.config_differences(REPO_CONFIG, served, DIR) == [
        "scrape_configs[fastapi-app].static_configs[0].targets: repo [app:8000], server [app:8001]",
        'scrape_configs[celery-workers].static_configs[1]: only on the server: {"targets": '
        '["extra:1"]}',
    ]


def test_relative_paths_equal_what_the_server_made_absolute() -> None:
    assert drift.config_differences(REPO_CONFIG, SERVED_CONFIG, "/etc/prometheus") == []
    # Without the server's config folder, the relative path differs from the absolute one.
    assert drift.config_differences(REPO_CONFIG, SERVED_CONFIG) == [
        "rule_files: repo [rules/*.rules.yml], server [/etc/prometheus/rules/*.rules.yml]"
    ]
    moved = {**SERVED_CONFIG, "rule_files": ["/srv/rules/*.rules.yml"]}
    assert drift.config_differences(REPO_CONFIG, moved, "/etc/prometheus") == [
        "rule_files: repo [rules/*.rules.yml], server [/srv/rules/*.rules.yml]"
    ]


def test_secrets_the_server_hides_and_empty_keys_are_not_compared() -> None:
    config = {"scrape_configs": [{"job_name": "a", "basic_auth": {"password": "hunter2"}}]}
    served = {"scrape_configs": [{"job_name": "a", "basic_auth": {"password": "<secret>"}}]}
    assert drift.config_differences(config, served) == []
    assert drift.config_differences({"alerting": None}, SERVED_CONFIG) == []


def test_a_mapping_where_the_server_has_a_value_is_named() -> None:
    assert drift.config_differences({"global": {"external_labels": {"a": "b"}}}, {"global": 1}) == [
        'global: repo {"external_labels": {"a": "b"}}, server 1'
    ]


# --- flags -------------------------------------------------------------------------------


def test_a_changed_retention_flag_is_named_with_both_values() -> None:
    flags = {**SERVED_FLAGS, "storage.tsdb.retention.time": "15d"}
    assert drift.differences(repo(), server(flags=flags)) == [
        "--storage.tsdb.retention.time: repo 30d, server 15d"
    ]


@pytest.mark.parametrize(
    ("passed", "served"),
    [("720h", "30d"), ("4w2d", "30d"), ("30d", "4w2d")],
)
def test_duration_flags_compare_as_durations(passed: str, served: str) -> None:
    args = [f"--storage.tsdb.retention.time={passed}"]
    assert drift.flag_differences(args, {"storage.tsdb.retention.time": served}) == []


def test_flag_spellings_and_sizes() -> None:
    args = ["--no-web.enable-admin-api", "--storage.tsdb.retention.size", "2GB", "--web.x"]
    assert drift.parse_args(args) == {
        "web.enable-admin-api": "false",
        "storage.tsdb.retention.size": "2GB",
        "web.x": "true",
    }
    served = {
        "storage.tsdb.retention.size": "2GiB",
        "web.enable-admin-api": "false",
        "web.x": "true",
    }
    assert drift.flag_differences(args, served) == []
    served["storage.tsdb.retention.size"] = "1GiB"
    assert drift.flag_differences(args, served) == [
        "--storage.tsdb.retention.size: repo 2GB, server 1GiB"
    ]


def test_a_flag_the_server_does_not_know_and_a_switched_off_one() -> None:
    args = ["--web.enable-lifecycle", "--storage.tsdb.no-such-flag=1"]
    assert drift.flag_differences(args, {"web.enable-lifecycle": "false"}) == [
        "--web.enable-lifecycle: repo true, server false",
        "--storage.tsdb.no-such-flag: repo 1, server lacks it (no such flag)",
    ]


# --- rules -------------------------------------------------------------------------------


def _served_rules_with(group: int, rule: int, **changes: Any) -> dict[str, Any]:
    rules = copy.deepcopy(SERVED_RULES)
    rules["groups"][group]["rules"][rule].update(changes)
    return rules


def test_expressions_compare_by_syntax_not_spelling() -> None:
    # The server prints `sum by (le) (...)`; the repo may write `sum(...) by (le)`.
    text = Path(CONFIG_FILE.parent / "rules/sample-service.rules.yml").read_text()
    respelled = text.replace(
        "sum by (le) (rate(enhancement_duration_seconds_bucket[5m]))",
        "sum(rate(enhancement_duration_seconds_bucket[5m]))   by(le)",
    )
    assert respelled != text
    groups = load_rule_text(Path("rules/x.rules.yml"), respelled)
    assert drift.rule_differences(groups, SERVED_RULES) == []


def test_a_changed_expr_is_named_with_both_values() -> None:
    served = _served_rules_with(0, 1, query="up == 1")
    assert drift.rule_differences(repo().groups, served) == [
        "groups[sample-service.alerts].alert[TargetDown].expr: repo up == 0, server up == 1"
    ]


def test_a_changed_for_and_labels_are_named() -> None:
    served = _served_rules_with(0, 1, duration=120, labels={"severity": "warning", "team": "a"})
    assert drift.rule_differences(repo().groups, served) == [
        "groups[sample-service.alerts].alert[TargetDown].for: repo 1m, server 2m",
        "groups[sample-service.alerts].alert[TargetDown].labels.severity: repo critical, "
        "server warning",
        "groups[sample-service.alerts].alert[TargetDown].labels.team: repo lacks it, server a",
    ]


def test_a_missing_and_an_extra_rule_are_named() -> None:
    served = copy.deepcopy(SERVED_RULES)
    served["groups"][0]["rules"].pop(3)
    served["groups"][1]["rules"].append(_record("extra:rate", "rate(x[1m])"))
    lines = drift.rule_differences(repo().groups, served)
    # In the rule file's order: the recording group comes first.
    assert lines[0] == (
        "groups[sample-service.recording].record[extra:rate]: only on the server: rate(x[1m])"
    )
    assert re.fullmatch(
        r"groups\[sample-service.alerts\].alert\[QueueGrowing\]: only in the repo "
        rf"\({CONFIG_FILE.parent}/rules/sample-service.rules.yml:\d+\)",
        lines[1],
    )
    assert len(lines) == 2


def test_a_missing_group_and_a_group_only_served_are_named() -> None:
    served = copy.deepcopy(SERVED_RULES)
    served["groups"][1]["name"] = "other"
    assert drift.rule_differences(repo().groups, served) == [
        f"groups[sample-service.recording]: only in the repo ({CONFIG_FILE.parent}/rules/"
        "sample-service.rules.yml)",
        f"groups[other]: only on the server ({FILE})",
    ]


def test_a_group_interval_the_repo_sets_is_compared() -> None:
    text = "groups:\n  - name: sample-service.recording\n    interval: 1m\n    rules: []\n"
    groups = load_rule_text(Path("r.rules.yml"), text)
    served = {"groups": [{"name": "sample-service.recording", "interval": 15, "rules": []}]}
    assert drift.rule_differences(groups, served) == [
        "groups[sample-service.recording].interval: repo 1m, server 15s"
    ]
    served["groups"][0]["interval"] = 60
    assert drift.rule_differences(groups, served) == []


def test_a_group_without_interval_is_evaluated_at_the_global_interval() -> None:
    served = copy.deepcopy(SERVED_RULES)
    served["groups"][0]["interval"] = 60
    assert drift.rule_differences(repo().groups, served, ("15s", "15s")) == [
        "groups[sample-service.alerts].interval: repo 15s, server 1m"
    ]
    assert drift.rule_differences(repo().groups, SERVED_RULES, ("15s", "15s")) == []
    # A server evaluating every group at its own global 1m: that global is named, once.
    everywhere = copy.deepcopy(served)
    everywhere["groups"][1]["interval"] = 60
    assert drift.rule_differences(repo().groups, everywhere, ("15s", "1m")) == []


def test_a_for_that_is_no_duration_is_bad_input_naming_file_and_line() -> None:
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: soon\n"
    )
    groups = load_rule_text(Path("r.rules.yml"), text)
    served = {"groups": [{"name": "g", "rules": [_alert("A", "up", 0, "none")]}]}
    with pytest.raises(ValidationError, match=r"^rule file r\.rules\.yml:4: A's for: 'soon' is"):
        drift.rule_differences(groups, served)


def test_rules_not_in_prometheus_shape_are_bad_input() -> None:
    with pytest.raises(UnexpectedPayload, match=r"data\.groups"):
        drift.rule_differences(repo().groups, {"groups": "no"})


# --- the last reload, and all together ---------------------------------------------------


def test_a_failed_reload_is_a_difference_dated_by_the_last_good_load() -> None:
    info = {"reloadConfigSuccess": False, "lastConfigTime": "2026-12-02T14:02:27Z"}
    assert drift.differences(repo(), server(runtimeinfo=info)) == [
        "the last reload failed: the server runs an older config (its last successful load "
        "was at 2026-12-02T14:02:27Z)"
    ]


def test_every_difference_is_one_line_reload_first() -> None:
    flags = {**SERVED_FLAGS, "storage.tsdb.retention.time": "15d"}
    info = {"reloadConfigSuccess": False, "lastConfigTime": "2026-12-02T14:02:27Z"}
    config = copy.deepcopy(SERVED_CONFIG)
    config["global"]["scrape_interval"] = "30s"
    rules = _served_rules_with(1, 0, query="sum(rate(enhancement_requests_total[5m]))")
    found = drift.differences(
        repo(), server(config=config, flags=flags, rules=rules, runtimeinfo=info)
    )
    assert [line.split(":", 1)[0] for line in found] == [
        "the last reload failed",
        "--storage.tsdb.retention.time",
        "global.scrape_interval",
        "groups[sample-service.recording].record[tenant",
    ]
    assert drift.verdict(repo(), found) == "\n".join(found)
