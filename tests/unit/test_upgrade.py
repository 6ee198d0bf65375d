"""The upgrade rehearsal's judges (promkit.verify.upgrade) on recorded API answers.

tests/fixtures/upgrade/sides-2.42-3.16.json is what Debian's 2.42 and a 3.16 build said
(targets, rules, le/quantile values, query answers) to the broken fixture of
tests/integration/test_verify_upgrade.py; the log lines are those the two versions print.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from promkit.verify import upgrade
from promkit.verify.queries import DocumentedQuery
from promkit.verify.upgrade import Answer, Refusal, Side, Workaround

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "upgrade" / "sides-2.42-3.16.json"
GUIDE = (
    DocumentedQuery("Fast waits", 'sum(promkit_test_wait_seconds_bucket{le="1"})', 1),
    DocumentedQuery("Smoothed", "holt_winters(up[1m], 0.5, 0.5)", 2),
    DocumentedQuery("Targets up", "up == 1", 3),
)
#: Lines the real binaries print when they refuse to start.
FLAG_LOG = (
    "Error parsing command line arguments: unknown long flag '--alertmanager.timeout'\n"
    "prometheus: error: unknown long flag '--alertmanager.timeout'\n"
)
ALERTMANAGER_LOG = (
    'time=2026-12-07T16:46:17.644Z level=ERROR source=main.go:774 msg="Error loading config '
    '(--config.file=p.yml)" file=/tmp/up-probe/p.yml err="parsing YAML file p.yml: expected '
    'Alertmanager api version to be one of [v2] but got v1"\n'
)
RULE_LOG = (
    'time=2026-12-07T16:46:54.134Z level=ERROR source=main.go:794 msg="Error loading rule file '
    'patterns from config (--config.file=\\"p.yml\\")" file=/tmp/up-probe/p.yml err="parse rules '
    'from file \\"/tmp/up-probe/rules/r.yml\\" (pattern: \\"rules/*.yml\\"): /tmp/up-probe/rules/'
    'r.yml: 5:15: group \\"g\\", rule 1, \\"x:hw\\": could not parse expression: 1:1: parse '
    'error: unknown function with name \\"holt_winters\\""\n'
)


#: The same refusal of the rule in the integration test's fixture.
_FIXTURE_RULE_LOG = RULE_LOG.replace("x:hw", "job:up:smoothed").replace('\\"g\\"', '\\"upgrade\\"')


def _side(raw: dict[str, Any], refusals: tuple[Refusal, ...] = ()) -> Side:
    answers = {q: Answer(**a) for q, a in raw["answers"].items()}
    fields = {**raw, "answers": answers, "refusals": refusals}
    return Side(**fields)


@pytest.fixture
def sides() -> tuple[Side, Side]:
    recorded = json.loads(RECORDED.read_text())
    refusals = tuple(
        upgrade.refusal(log, ["--alertmanager.timeout=10s"])
        for log in (FLAG_LOG, ALERTMANAGER_LOG, _FIXTURE_RULE_LOG)
    )
    return _side(recorded["2.42.0"]), _side(recorded["3.16.0"], refusals)


def test_a_removed_flag_is_named_as_given_with_its_fix_and_dropped() -> None:
    refused = upgrade.refusal(FLAG_LOG, ["--web.enable-lifecycle", "--alertmanager.timeout=10s"])
    assert refused.category == "startup"
    assert refused.subject == "flag --alertmanager.timeout=10s"
    assert refused.line == "prometheus: error: unknown long flag '--alertmanager.timeout'"
    assert refused.workaround == Workaround("drop-flag", "--alertmanager.timeout=10s")


def test_a_removed_setting_is_its_own_error_without_the_file_path() -> None:
    refused = upgrade.refusal(ALERTMANAGER_LOG, [])
    assert refused.line == "expected Alertmanager api version to be one of [v2] but got v1"
    assert "api_version: v2" in refused.fix
    assert refused.workaround == Workaround("alertmanager-v2", "v2")


def test_a_refused_rule_is_a_rules_finding_naming_the_renamed_function() -> None:
    refused = upgrade.refusal(RULE_LOG, [])
    assert (refused.category, refused.subject) == ("rules", "rule x:hw (group g)")
    assert refused.line.endswith('unknown function with name "holt_winters"')
    assert "double_exponential_smoothing" in refused.fix
    assert refused.workaround == Workaround("drop-rule", "x:hw")


def test_an_unknown_refusal_has_no_workaround() -> None:
    log = 'level=error msg="Error loading config" err="parsing YAML file p.yml: not a duration"'
    refused = upgrade.refusal(log, [])
    assert refused.line == "not a duration" and refused.workaround is None


def test_the_recorded_rehearsal_names_each_breakage_once(sides: tuple[Side, Side]) -> None:
    found = upgrade.compare(*sides, GUIDE)
    assert not found.ok
    assert [(b.category, b.subject) for b in found.breakages] == [
        ("startup", "flag --alertmanager.timeout=10s"),
        ("startup", "setting alerting.alertmanagers api_version: v1"),
        ("targets", f"target plain/{_plain_instance(sides[0])}"),
        ("series", 'rule job:fast_waits:rate1m selects promkit_test_wait_seconds_bucket{le="1"}'),
        ("series", 'query Fast waits selects promkit_test_wait_seconds_bucket{le="1"}'),
        ("rules", "rule job:up:smoothed (group upgrade)"),
        ("queries", "query Smoothed (holt_winters(up[1m], 0.5, 0.5))"),
        ("queries", "query Targets up (up == 1)"),
    ]


def _plain_instance(side: Side) -> str:
    targets = side.targets["activeTargets"]
    return next(t["labels"]["instance"] for t in targets if t["labels"]["job"] == "plain")


def test_a_target_up_on_the_old_side_only_gets_the_new_scrape_error_and_the_fix(
    sides: tuple[Side, Side],
) -> None:
    (found,), _notes = upgrade.judge_targets(*sides)
    assert found.old == "up"
    assert found.new.startswith('down: received unsupported Content-Type "text/html"')
    assert "fallback_scrape_protocol: PrometheusText0.0.4 in scrape job plain" in found.fix


def test_normalised_bucket_bounds_are_notes_and_break_only_what_selects_them(
    sides: tuple[Side, Side],
) -> None:
    old, new = sides
    breakages, notes, named = upgrade.judge_series(old, new, GUIDE[2:])
    assert notes == [
        "label le: 2.42.0 has '1', 3.16.0 '1.0' (normalised, breaks nothing that does not "
        "select it)",
        "label le: 2.42.0 has '5', 3.16.0 '5.0' (normalised, breaks nothing that does not "
        "select it)",
    ]
    assert [b.fix for b in breakages] == ['le=~"1|1.0" in promkit_test_wait_seconds_bucket{le="1"}']
    assert named == {"rule job:fast_waits:rate1m"}


def test_nothing_selects_an_old_value_nothing_breaks(sides: tuple[Side, Side]) -> None:
    old, new = sides
    clean = dataclasses.replace(old, rules={"groups": []})
    breakages, notes, _named = upgrade.judge_series(clean, new, GUIDE[2:])
    assert breakages == [] and len(notes) == 2


def test_a_rule_empty_on_the_new_side_only_is_a_breakage() -> None:
    rules = {"groups": [{"name": "g", "rules": [{"name": "r", "query": "q", "health": "ok"}]}]}
    old = Side("2", targets={}, rules=rules, answers={"q": Answer(3)})
    new = Side("3", targets={}, rules=rules, answers={"q": Answer(0)})
    (found,) = upgrade.judge_rules(old, new)
    assert (found.subject, found.old, found.new) == ("rule r", "3 series", "no series from q")
    assert upgrade.judge_rules(old, old) == []


def test_a_rule_unhealthy_on_the_new_side_shows_its_error() -> None:
    rule = {"name": "r", "query": "q", "health": "ok"}
    bad = {**rule, "health": "err", "lastError": "many-to-many matching not allowed"}
    old = Side("2", rules={"groups": [{"name": "g", "rules": [rule]}]}, answers={"q": Answer(1)})
    new = Side("3", rules={"groups": [{"name": "g", "rules": [bad]}]}, answers={"q": Answer(0)})
    (found,) = upgrade.judge_rules(old, new)
    assert found.new == "err: many-to-many matching not allowed"


@pytest.mark.parametrize(
    ("old", "new", "broken"),
    [
        (Answer(2), Answer(2), False),
        (Answer(2), Answer(1), True),
        (Answer(2), Answer(0), True),
        (Answer(2), Answer(error="bad_data: parse error"), True),
        (Answer(error="bad_data: parse error"), Answer(1), False),
        (Answer(0), Answer(0), False),
    ],
)
def test_a_documented_query_breaks_when_the_new_side_errs_or_differs(
    old: Answer, new: Answer, broken: bool
) -> None:
    query = DocumentedQuery("q", "up", 1)
    found = upgrade.judge_queries(
        Side("2", answers={"up": old}), Side("3", answers={"up": new}), [query]
    )
    assert bool(found) is broken


def test_a_new_version_that_did_not_start_is_compared_only_at_startup() -> None:
    refused = upgrade.refusal('level=error err="something new"', [])
    found = upgrade.compare(Side("2"), Side("3", (refused,), ran=False), GUIDE)
    assert [b.category for b in found.breakages] == ["startup"]
    assert "not compared" in found.notes[-1]


@pytest.mark.parametrize(
    ("value", "normal"),
    [("1", "1.0"), ("1.0", "1.0"), ("0.25", "0.25"), ("+Inf", "+Inf"), ("x", "x")],
)
def test_normal_form_is_prometheus_3s_float_text(value: str, normal: str) -> None:
    assert upgrade.normal_form(value) == normal
