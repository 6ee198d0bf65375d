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
from promkit.core.settings import DEFAULTS, ROOT, repo_path
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
    "alerting": {
        "alertmanagers": [
            {
                "follow_redirects": True,
                "enable_http2": True,
                "scheme": "http",
                "timeout": "10s",
                "api_version": "v2",
                "static_configs": [{"targets": ["alertmanager-1:9093", "alertmanager-2:9093"]}],
            }
        ]
    },
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


# --- boundaries the mutation run (docs/testing.md) found untested ------------------------


def test_sizes_are_read_in_base_two_whatever_the_spelling() -> None:
    assert drift.same_value("1KB", "1024B")
    assert drift.same_value("2MiB", "2097152B")
    assert not drift.same_value("1KB", "1000B")


def test_named_lists_are_matched_by_name_below_the_top_level_too() -> None:
    repo_config = {"a": {"scrape_configs": [{"job_name": "j", "x": 1}]}}
    served = {"a": {"scrape_configs": [{"job_name": "j", "x": 2}]}}
    assert drift.config_differences(repo_config, served) == [
        "a.scrape_configs[j].x: repo 1, server 2"
    ]


def test_relative_paths_inside_jobs_and_indexed_lists_are_read_in_the_config_folder() -> None:
    job = {"job_name": "j", "bearer_token_file": "token"}
    served_job = {"job_name": "j", "bearer_token_file": f"{DIR}/token"}
    listed = [{"ca_file": "ca.pem"}]
    repo_config = {"scrape_configs": [job], "tls": listed}
    served = {"scrape_configs": [served_job], "tls": [{"ca_file": f"{DIR}/ca.pem"}]}
    assert drift.config_differences(repo_config, served, DIR) == []
    assert drift.config_differences(repo_config, served) == [
        f"scrape_configs[j].bearer_token_file: repo token, server {DIR}/token",
        f"tls[0].ca_file: repo ca.pem, server {DIR}/ca.pem",
    ]


def test_an_indexed_list_longer_in_the_repo_names_each_extra_item() -> None:
    repo_config = {"tls": [{"a": 1}, {"b": 2}]}
    assert drift.config_differences(repo_config, {"tls": [{"a": 1}]}) == [
        'tls[1]: only in the repo: {"b": 2}'
    ]


def test_a_bare_double_dash_and_a_last_flag_with_its_value() -> None:
    assert drift.parse_args(["--", "value"]) == {}
    assert drift.parse_args(["--storage.tsdb.path", "/prometheus"]) == {
        "storage.tsdb.path": "/prometheus"
    }
    assert drift.parse_args(["--web.enable-lifecycle"]) == {"web.enable-lifecycle": "true"}


@pytest.mark.parametrize("info", [None, ["reloadConfigSuccess"], "false", {}])
def test_runtimeinfo_that_is_no_mapping_or_says_nothing_is_no_failed_reload(info: Any) -> None:
    assert drift.reload_differences(info) == []


def test_a_failed_reload_without_a_time_says_so() -> None:
    assert drift.reload_differences({"reloadConfigSuccess": False}) == [
        "the last reload failed: the server runs an older config "
        "(its last successful load was at an unknown time)"
    ]


def test_the_repos_global_evaluation_interval_reaches_the_rule_groups() -> None:
    """A group the repo leaves to the global 1m, served at its own 30s (the server's global
    is 15s): the group's interval is named, from the repo's global."""
    repo_config = {**copy.deepcopy(REPO_CONFIG), "global": {"evaluation_interval": "1m"}}
    text = "groups:\n  - name: g\n    rules: []\n"
    groups = load_rule_text(Path("r.rules.yml"), text)
    served_config = {**copy.deepcopy(SERVED_CONFIG), "global": {"evaluation_interval": "15s"}}
    rules = {"groups": [{"name": "g", "interval": 30, "rules": []}]}
    found = drift.differences(
        repo(config=repo_config, groups=groups), server(config=served_config, rules=rules)
    )
    assert "groups[g].interval: repo 1m, server 30s" in found


def test_the_verdict_names_every_source_compared() -> None:
    assert drift.verdict(repo(sources=("a.yml", "b.yml")), []) == "server matches a.yml, b.yml"


def test_config_text_is_a_mapping_or_bad_input_naming_where() -> None:
    assert drift.parse_config_text("p.yml", "global:\n  scrape_interval: 15s\n") == {
        "global": {"scrape_interval": "15s"}
    }
    with pytest.raises(
        ValidationError, match=r"^Prometheus config p\.yml is not a mapping of settings$"
    ):
        drift.parse_config_text("p.yml", "- 1\n")
    with pytest.raises(ValidationError, match=r"^Prometheus config p\.yml is not YAML: "):
        drift.parse_config_text("p.yml", "a: [1\n")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (["a", 1], "[a, 1]"),
        ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'),
        ({"a": Path("x")}, '{"a": "x"}'),
    ],
)
def test_values_print_as_yaml_reads_them(value: Any, shown: str) -> None:
    assert drift.show(value) == shown


def test_same_value_edges() -> None:
    assert drift.same_value(8000, "8000")
    assert not drift.same_value([1], [2])
    assert not drift.same_value(["a"], "[a]")
    # A relative path that also reads as a duration is still a path.
    assert drift.same_value("1h", f"{DIR}/1h", DIR)


def test_scalars_and_lists_of_mappings_against_other_shapes() -> None:
    repo_config = {"tls": [{"a": 1}], "file": "a"}
    served = {"tls": "x", "file": f"{DIR}/a"}
    assert drift.config_differences(repo_config, served, DIR) == ['tls: repo [{"a": 1}], server x']


def test_only_the_inherited_globals_are_filled_into_jobs() -> None:
    repo_config = {
        "global": {"scrape_interval": "15s", "foo": "1"},
        "scrape_configs": ["x", {"job_name": "j"}],
    }
    served = {
        "global": {"scrape_interval": "15s"},
        "scrape_configs": [{"job_name": "j", "foo": "2", "scrape_interval": "15s"}],
    }
    assert drift.config_differences(repo_config, served) == ["global.foo: repo 1, server lacks it"]


@pytest.mark.parametrize("rules", ["no", {"groups": ["x"]}, {"groups": "x"}, None])
def test_rules_data_without_a_list_of_group_objects_is_bad_input(rules: Any) -> None:
    with pytest.raises(
        UnexpectedPayload, match=r"^/api/v1/rules has no list of groups in data\.groups$"
    ):
        drift.rule_differences([], rules)


def _groups(text: str) -> Any:
    return load_rule_text(Path("r.rules.yml"), "groups:\n  - name: g\n" + text)


def test_a_rule_name_repeated_in_a_group_is_counted() -> None:
    groups = _groups(
        "    rules:\n      - alert: A\n        expr: up\n      - alert: A\n        expr: up\n"
    )
    served = {"groups": [{"name": "g", "rules": [_alert("A", "up", 0, "none")]}]}
    found = drift.rule_differences(groups, served)
    assert found[-1] == "groups[g].alert[A]#2: only in the repo (r.rules.yml:6)"
    served["groups"][0]["rules"] *= 2
    assert "only in the repo" not in "\n".join(drift.rule_differences(groups, served))
    assert "groups[g].alert[A]#2.labels.severity: repo lacks it, server none" in (
        drift.rule_differences(groups, served)
    )


def test_exprs_the_parser_cannot_read_compare_as_text() -> None:
    assert drift._same_expr("rate(x[5m]", "rate(x[5m]")
    assert drift._same_expr("sum(  x", "sum( x")
    assert not drift._same_expr("up", "up +")


def test_served_rules_and_groups_missing_their_fields() -> None:
    groups = _groups("    interval: 1m\n    rules:\n      - alert: A\n        expr: up\n")
    served_rule = {"name": "A", "type": "alerting", "duration": 60, "labels": {}}
    extra = {"name": "B", "type": "weird"}
    served = {"groups": [{"name": "g", "rules": [served_rule, extra]}, {"name": "o"}]}
    assert drift.rule_differences(groups, served) == [
        "groups[g].interval: repo 1m, server 0s",
        "groups[g].alert[A].expr: repo up, server ",
        "groups[g].alert[A].for: repo 0s, server 1m",
        "groups[g].weird[B]: only on the server: ",
        "groups[o]: only on the server (?)",
    ]


def test_a_group_interval_that_is_no_duration_is_bad_input_naming_the_group() -> None:
    groups = _groups("    interval: soon\n    rules: []\n")
    with pytest.raises(
        ValidationError,
        match=r"^the interval of rule group g \(r\.rules\.yml\): 'soon' is not a duration",
    ):
        drift.rule_differences(groups, {"groups": [{"name": "g", "interval": 15}]})


def test_a_repo_without_a_global_evaluation_interval_leaves_groups_to_the_server() -> None:
    """No repo global: a group the server runs at its own 30s is not compared (and the
    missing setting is no bad input)."""
    repo_config = {**copy.deepcopy(REPO_CONFIG), "global": {}}
    groups = load_rule_text(Path("r.rules.yml"), "groups:\n  - name: g\n    rules: []\n")
    served_config = {**copy.deepcopy(SERVED_CONFIG), "global": {"evaluation_interval": "15s"}}
    rules = {"groups": [{"name": "g", "interval": 30, "rules": []}]}
    found = drift.differences(
        repo(config=repo_config, groups=groups), server(config=served_config, rules=rules)
    )
    assert not [line for line in found if line.startswith("groups[")]


def test_without_a_config_folder_a_relative_path_is_not_taken_for_its_normal_form() -> None:
    # Where the server resolved it is unknown: "./token" is not known to be "token".
    assert drift.same_value("./token", "token") is False
    assert drift.same_value("./token", "/etc/prometheus/token", DIR) is True


def test_a_relative_config_file_gives_no_folder_to_resolve_the_repos_paths_in() -> None:
    config, served = copy.deepcopy(REPO_CONFIG), copy.deepcopy(SERVED_CONFIG)
    config["scrape_configs"][0]["bearer_token_file"] = "token"
    served["scrape_configs"][0]["bearer_token_file"] = "conf/token"
    flags = {**SERVED_FLAGS, "config.file": "conf/prometheus.yml"}
    found = drift.differences(repo(config=config), server(config=served, flags=flags))
    assert "scrape_configs[prometheus].bearer_token_file: repo token, server conf/token" in found


# --- the Alertmanager's config (verify.drift on a stack that sends alerts) -------------

AM_FILE = repo_path(DEFAULTS["alerts"]["config"])
AM_TEXT = AM_FILE.read_text()


def test_the_alertmanager_running_the_repo_file_matches() -> None:
    assert drift.alertmanager_differences("am.yml", AM_TEXT, AM_TEXT, "http://am") == []


def test_an_alertmanager_config_that_differs_is_named_by_key_path() -> None:
    served = yaml.safe_load(AM_TEXT)
    served["route"]["routes"][0]["repeat_interval"] = "4h"
    served["route"]["routes"].append({"receiver": "default", "matchers": ["team=x"]})
    del served["global"]
    found = drift.alertmanager_differences("am.yml", AM_TEXT, yaml.safe_dump(served), "http://am")
    assert found == [
        'am.yml global: repo {"resolve_timeout": "5m"}, server lacks it',
        "am.yml route.routes[0].repeat_interval: repo 1m, server 4h",
        'am.yml route.routes[3]: only on the server: {"matchers": ["team=x"], "receiver": '
        '"default"}',
    ]


def test_the_defaults_and_hidden_secrets_alertmanager_serves_are_no_drift() -> None:
    import json

    from promkit.verify.alerts import Fetched, served_config

    recorded = ROOT / "tests/fixtures/alerting/alertmanager-status.json"
    served = served_config(Fetched(json.loads(recorded.read_text())))
    assert "url: <secret>" in served and "smtp_hello: localhost" in served
    assert drift.alertmanager_differences("am.yml", AM_TEXT, served, "http://am") == []


def test_an_alertmanager_config_that_is_not_yaml_is_one_line() -> None:
    bad = drift.alertmanager_differences("am.yml", AM_TEXT, "a: [", "http://am")
    assert len(bad) == 1 and "the config of Alertmanager at http://am is not YAML" in bad[0]


def test_drift_asks_the_alertmanager_for_its_config(tmp_path: Path) -> None:
    import json

    from promkit.verify import round as rounds
    from promkit.verify.alert_round import with_alertmanager_drift
    from promkit.verify.drift import RepoView
    from tests.support.loopback import reply, serving

    status = {"config": {"original": AM_TEXT.replace("repeat_interval: 1m", "repeat_interval: 2m")}}
    found = rounds.Drift(RepoView({}, (), (), ("prometheus.yml",)), [])
    with serving({"/api/v2/status": reply(200, json.dumps(status).encode())}) as server:
        drifted = with_alertmanager_drift(found, AM_FILE, "am.yml", server.url)
    assert drifted.differences == ["am.yml route.routes[0].repeat_interval: repo 1m, server 2m"]
    assert drifted.repo.sources == ("prometheus.yml", "am.yml")
    assert not drifted.ok and drifted.notes == ()


def test_an_alertmanager_that_does_not_answer_is_a_note_not_drift() -> None:
    from promkit.verify import round as rounds
    from promkit.verify.alert_round import with_alertmanager_drift
    from promkit.verify.drift import RepoView

    found = rounds.Drift(RepoView({}, (), (), ("prometheus.yml",)), [])
    gone = with_alertmanager_drift(found, AM_FILE, "am.yml", "http://127.0.0.1:1")
    assert gone.ok and gone.repo.sources == ("prometheus.yml",)
    (note,) = gone.notes
    assert note.startswith("am.yml not compared: Alertmanager at http://127.0.0.1:1: ")
