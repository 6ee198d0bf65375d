"""check.rules and check.rule-tests: the exact promtool commands, and what they refuse.

promtool is answered by MockContext; the rule files, the configs and the recorded
exposition are the repo's real ones, or broken copies of them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit

from promkit.core.settings import ROOT, data_path
from promkit.rules import lint as rule_lint
from promkit.tasks import rules as tasks
from tests.support.mockctx import commands, result

PROMTOOL = "/opt/prometheus/promtool"
RULE_FILE = data_path("config/prometheus/rules/sample-service.rules.yml")
TEST_FILE = ROOT / "tests/rules/sample-service.test.yml"
Build = Callable[..., MockContext]

EXPOSITION = """\
# HELP d Time taken.
# TYPE d histogram
d_bucket{le="1.0"} 0.0
d_bucket{le="+Inf"} 0.0
d_count 0.0
d_sum 0.0
# --- a comment
# TYPE requests_total counter
requests_total{status="ok"} 3.0
g 1.0
"""


def promtool_context(mock_context: Build, **responses: object) -> MockContext:
    defaults: dict[str, object] = {
        rf"^{PROMTOOL} check rules ": result("SUCCESS: 7 rules found"),
        rf"^{PROMTOOL} test rules ": result("  SUCCESS"),
    }
    for pattern, value in defaults.items():
        responses.setdefault(pattern, value)  # after ``responses``: the first match wins
    return mock_context(responses, k8s={"promtool": PROMTOOL})


def config_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "prometheus"
    shutil.copytree(data_path("config/prometheus"), folder)
    return folder


def test_parse_exposition_reads_sample_names_with_their_family_type() -> None:
    assert rule_lint.parse_exposition(EXPOSITION) == {
        "d_bucket": "histogram",
        "d_count": "histogram",
        "d_sum": "histogram",
        "requests_total": "counter",
        "g": "counter",  # after a TYPE line, as the text format groups a family's samples
    }


def test_the_repo_rules_select_only_metrics_that_exist() -> None:
    files, stray = rule_lint.rule_files(data_path("config/prometheus"))
    assert files == [RULE_FILE] and stray == []
    exposed = rule_lint.load_exposition(ROOT / rule_lint.EXPOSITION)
    groups = tuple(g for path in files for g in rule_lint.rules.load_rule_file(path))
    assert rule_lint.unknown_metrics(groups, exposed, Path("x.prom")) == []


def test_a_metric_found_nowhere_is_named_with_file_line_and_a_hint(tmp_path: Path) -> None:
    rule_file = tmp_path / "x.rules.yml"
    rule_file.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - record: r:d:rate\n        expr: rate(d_sum[5m])\n"
        "      - alert: A\n        expr: rate(d[5m]) > r:d:rate or up == 0 or ALERTS\n"
    )
    groups = rule_lint.rules.load_rule_file(rule_file)
    exposed = rule_lint.parse_exposition(EXPOSITION)
    assert rule_lint.unknown_metrics(groups, exposed, Path("e.prom")) == [
        f"{rule_file}:6: alert A selects d, which is not in the sample service's exposition "
        "(e.prom), recorded by no rule and not made by Prometheus; the histogram d is exposed "
        "as d_bucket, d_count, d_sum"
    ]


def test_check_rules_runs_promtool_on_every_rule_file(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = promtool_context(mock_context)
    tasks.rules(c)
    assert commands(c) == [f"{PROMTOOL} check rules {RULE_FILE}"]
    assert "1 rule file(s), 7 rules: promtool accepts them" in capsys.readouterr().out


def test_check_rules_lists_promtool_stray_files_and_unknown_metrics_then_exits_2(
    mock_context: Build, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = config_copy(tmp_path)
    rule_file = folder / "rules/sample-service.rules.yml"
    rule_file.write_text(rule_file.read_text().replace("queue_depth offset", "queue_size offset"))
    (folder / "rules/old.yml").write_text("groups: []\n")
    failed = result(f"Checking {rule_file}\n  FAILED:\n{rule_file}: 3:1: template: bad\n", 1)
    c = promtool_context(mock_context, **{rf"^{PROMTOOL} check rules ": failed})
    c.config.compose.prometheus_config = str(folder / "prometheus.yml")
    with pytest.raises(Exit) as exc:
        tasks.rules(c)
    assert exc.value.code == 2
    assert exc.value.message == (
        "promkit: the rule files have 3 problems (listed above): fix them, then run "
        "`inv check.rules`"
    )
    out = capsys.readouterr().out.splitlines()
    line = rule_file.read_text().split("\n").index("      - alert: QueueGrowing") + 1
    assert out == [
        f"{folder}/rules/old.yml: no config of {folder} loads it (check their rule_files)",
        f"promtool check rules: {rule_file}: 3:1: template: bad",
        f"{rule_file}:{line}: alert QueueGrowing selects queue_size, which is not in the sample "
        f"service's exposition ({ROOT / rule_lint.EXPOSITION}), recorded by no rule and not "
        "made by Prometheus",
    ]


def test_check_rules_refuses_a_rule_file_that_does_not_load_before_promtool(
    mock_context: Build, tmp_path: Path
) -> None:
    folder = config_copy(tmp_path)
    rule_file = folder / "rules/sample-service.rules.yml"
    rule_file.write_text(rule_file.read_text().replace("expr: vector(1)", "expr: vector(1"))
    c = promtool_context(mock_context)
    c.config.compose.prometheus_config = str(folder / "prometheus.yml")
    with pytest.raises(Exit, match=rf"^promkit: rule file {rule_file}:\d+: alert Watchdog's"):
        tasks.rules(c)
    assert commands(c) == []


@pytest.mark.parametrize(
    ("junit", "flags"), [(None, ""), ("reports/x/rule-tests.xml", "--junit=REPORT ")]
)
def test_check_rule_tests_runs_promtool_test_rules(
    mock_context: Build, tmp_path: Path, junit: str | None, flags: str
) -> None:
    report = str(tmp_path / junit) if junit else None
    c = promtool_context(mock_context)
    tasks.rule_tests(c, junit=report)
    assert commands(c) == [
        f"{PROMTOOL} test rules {flags.replace('REPORT', report or '')}{TEST_FILE}"
    ]
    if report:
        assert Path(report).parent.is_dir()  # promtool writes the file, promkit the folder


def test_check_rule_tests_says_when_promtool_is_too_old_for_junit(
    mock_context: Build, tmp_path: Path
) -> None:
    too_old = result("", 1, "promtool: error: unknown long flag '--junit', try --help")
    c = promtool_context(mock_context, **{rf"^{PROMTOOL} test rules --junit": too_old})
    with pytest.raises(Exit) as exc:
        tasks.rule_tests(c, junit=str(tmp_path / "r.xml"))
    assert exc.value.code == 2
    assert "cannot write JUnit (--junit is Prometheus 3.x's; this one is older)" in str(
        exc.value.message
    )


def test_check_rule_tests_fails_when_a_test_fails(mock_context: Build) -> None:
    failing = result("  FAILED:\n    alertname: HighErrorRate, time: 15m,", 1)
    c = promtool_context(mock_context, **{rf"^{PROMTOOL} test rules ": failing})
    with pytest.raises(Exit) as exc:
        tasks.rule_tests(c)
    assert exc.value.code == 2
    assert str(exc.value.message) == (
        f"promkit: promtool test rules failed (exit 1) for {TEST_FILE}: see its output above"
    )
