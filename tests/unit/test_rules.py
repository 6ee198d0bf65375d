"""promkit.rules: rule files load with file:line on every error; PromQL read by its syntax tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from promkit.core.errors import ValidationError
from promkit.core.settings import data_path
from promkit.rules import files as rules

CONFIG = data_path("config/prometheus/prometheus.yml")
K8S_CONFIG = data_path("config/prometheus/prometheus-k8s.yml")
RULE_FILE = data_path("config/prometheus/rules/sample-service.rules.yml")
GOOD = """\
groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: job:up:sum == 0
        for: 5m
        labels:
          severity: critical
"""


def error_of(text: str, path: Path = Path("r.rules.yml")) -> str:
    with pytest.raises(rules.RuleFileError) as exc:
        rules.load_rule_text(path, text)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_a_good_file_loads_its_groups_and_rules_with_their_lines() -> None:
    (group,) = rules.load_rule_text(Path("r.rules.yml"), GOOD)
    assert group.name == "g" and group.file == Path("r.rules.yml")
    record, alert = group.rules
    assert (record.kind, record.name, record.line) == ("record", "job:up:sum", 4)
    assert (alert.kind, alert.name, alert.line, alert.duration) == ("alert", "Down", 6, "5m")
    assert alert.labels == {"severity": "critical"}


def test_the_repo_file_loads_through_the_config() -> None:
    assert rules.rule_file_paths(CONFIG) == [RULE_FILE]
    assert rules.rule_file_paths(K8S_CONFIG) == [RULE_FILE]
    names = [rule.name for group in rules.repo_groups(CONFIG) for rule in group.rules]
    assert {"Watchdog", "TargetDown", "HighErrorRate", "QueueGrowing"} <= set(names)


def test_yaml_errors_name_file_and_line() -> None:
    broken = GOOD.replace("        for: 5m\n", "        for: [5m\n")
    assert error_of(broken).startswith("rule file r.rules.yml:9: not YAML")


def test_bad_promql_names_the_line_of_its_expr() -> None:
    message = error_of(GOOD.replace("sum by (job) (up)", "sum by (job) (up"))
    assert message.startswith(
        "rule file r.rules.yml:5: record job:up:sum's expr does not parse ("
    ), message
    assert "nothing was changed" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("        expr: sum by (job) (up)\n", ""), "r.rules.yml:4: record job:up:sum has no expr"),
        (
            ("  - name: g\n", "  - nam: g\n"),
            "r.rules.yml:2: a rule group has an unknown field 'nam'",
        ),
        (
            ("      - record: job:up:sum\n", "      - expr_: x\n        record: job:up:sum\n"),
            "r.rules.yml:4: a rule of group 'g' has an unknown field 'expr_'",
        ),
        (
            ("      - record: job:up:sum\n", "      - alert: Both\n        record: job:up:sum\n"),
            "r.rules.yml:4: a rule of group 'g' needs exactly one of record, alert",
        ),
        (
            ("        for: 5m\n", "        for: 5m\n        for: 1m\n"),
            "r.rules.yml:9: a rule of group 'g' sets 'for' twice",
        ),
        (("groups:\n", "groups: {}\nx:\n"), "r.rules.yml:2: a rule file has an unknown field 'x'"),
    ],
    ids=[
        "missing expr",
        "unknown group field",
        "unknown rule field",
        "record and alert",
        "key twice",
        "unknown top-level field",
    ],
)
def test_structure_errors_name_file_and_line(edit: tuple[str, str], expected: str) -> None:
    old, new = edit
    assert old in GOOD
    assert expected in error_of(GOOD.replace(old, new))


def test_missing_name_and_misshapen_groups_name_their_lines() -> None:
    text = GOOD + "  - rules: []\n"
    assert error_of(text).startswith("rule file r.rules.yml:11: a rule group has no name")
    assert error_of("groups: {}\n").startswith("rule file r.rules.yml:1: groups must be a list")


def test_a_group_defined_twice_names_the_second_one() -> None:
    text = GOOD + "  - name: g\n    rules: []\n"
    message = error_of(text)
    assert message.startswith("rule file r.rules.yml:11: group 'g' is defined twice"), message


def test_an_empty_file_has_no_groups_and_an_unreadable_one_is_named(tmp_path: Path) -> None:
    assert rules.load_rule_text(Path("empty.yml"), "") == ()
    with pytest.raises(rules.RuleFileError, match=r"cannot read rule file .*missing\.yml"):
        rules.load_rule_file(tmp_path / "missing.yml")


def test_check_rule_files_stops_at_the_first_broken_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "a.rules.yml", tmp_path / "b.rules.yml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("== 0", "== == 0"))
    rules.check_rule_files([good])
    with pytest.raises(rules.RuleFileError, match=rf"^rule file {bad}:7: alert Down's expr"):
        rules.check_rule_files([good, bad])


def test_rule_file_paths_skips_absolute_globs_and_names_an_unreadable_config(
    tmp_path: Path,
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "x.rules.yml").write_text(GOOD)
    (tmp_path / "rules" / "notes.txt").write_text("")
    config = tmp_path / "prometheus.yml"
    config.write_text("rule_files: [rules/*.rules.yml, /etc/prometheus/other/*.yml]\n")
    assert rules.rule_file_paths(config) == [tmp_path / "rules" / "x.rules.yml"]
    config.write_text("global: {}\n")
    assert rules.rule_file_paths(config) == []
    with pytest.raises(ValidationError, match="cannot read Prometheus config"):
        rules.rule_file_paths(tmp_path / "none.yml")


def test_a_config_that_is_not_yaml_is_one_line_naming_its_line(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: [ {job_name: \n")
    with pytest.raises(rules.ConfigNotYAML) as raised:
        rules.rule_file_paths(config)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"Prometheus config {config}:4 is not YAML (")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up == 0", ("up",)),
        (
            'sum(rate(x_total{status="failure"}[5m])) / sum(rate(x_total[5m]))',
            ('x_total{status="failure"}', "x_total"),
        ),
        ("queue_depth - queue_depth offset 10m >= 50", ("queue_depth",)),
        ('{__name__=~"job:.*"}', ('{__name__=~"job:.*"}',)),
        ("vector(1)", ()),
        ('a{x!="1",y!~"2"}', ('a{x!="1",y!~"2"}',)),
    ],
)
def test_selectors_in_order_once_without_range_or_offset(
    expr: str, expected: tuple[str, ...]
) -> None:
    assert rules.selectors(expr) == expected


def test_metric_names_are_the_named_selectors_only() -> None:
    expr = 'histogram_quantile(0.9, sum by (le) (rate(d_bucket[5m]))) > on() group_left {a="b"}'
    assert rules.metric_names(expr) == {"d_bucket"}


def test_normalized_equates_spellings_of_the_same_expression() -> None:
    assert rules.normalized("sum by(job)(rate(x[5m]))") == rules.normalized(
        "sum  by (job) (\n  rate(x[5m])\n)"
    )
    assert rules.normalized("rate(x[5m])") != rules.normalized("rate(x[1m])")
