"""verify.rules' pure checks over rules answers recorded from real 2.42 and 3.16 servers.

``rules-green`` is the repo's rules over the app and worker exporters; ``rules-faults``
is tests/fixtures/rules/faults.rules.yml (recorded by tests/fixtures/record.py).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promkit.core.settings import DEFAULTS, repo_path
from promkit.rules import files as rules
from promkit.verify import checks, rule_checks
from promkit.verify.result import CheckResult, UnexpectedPayload
from promkit.verify.rule_checks import ExpectedRules, RepoRules, SelectorAnswer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VERSIONS = ["prometheus-2.42", "prometheus-3.16"]
CONFIG = repo_path(DEFAULTS["compose"]["prometheus_config"])
REPO = RepoRules(CONFIG, rules.repo_groups(CONFIG))
FAULTS_CONFIG = FIXTURES / "rules" / "prometheus.yml"
FAULTS = RepoRules(FAULTS_CONFIG, rules.load_rule_file(FIXTURES / "rules" / "faults.rules.yml"))
#: The sample's expectations: the shipped config's groups and its Watchdog.
SAMPLE = ExpectedRules.from_config(REPO, "Watchdog")


def recorded(version: str, scenario: str, name: str) -> Any:
    return json.loads((FIXTURES / version / scenario / f"{name}.json").read_text())["data"]


def answers(version: str, scenario: str) -> dict[str, SelectorAnswer]:
    found = {}
    for path in (FIXTURES / version / scenario).glob("selector-*.json"):
        raw = json.loads(path.read_text())
        selector = raw["promql"].removeprefix("count(").removesuffix(")")
        found[selector] = SelectorAnswer(selector, raw["promql"], data=raw["answer"]["data"])
    return found


def one_series(selector: str) -> SelectorAnswer:
    data = {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]}
    return SelectorAnswer(selector, f"count({selector})", data=data)


def started(version: str, scenario: str) -> datetime:
    moment = checks.start_time(recorded(version, scenario, "runtimeinfo"))
    assert moment is not None
    return moment


def last_evaluation(rules_data: Any) -> datetime:
    groups = rule_checks.server_groups(rules_data).values()
    return max(g.last_evaluation for g in groups if g.last_evaluation is not None)


def green(version: str, **changes: Any) -> list[CheckResult]:
    data = recorded(version, "rules-green", "rules")
    now = changes.pop("now", last_evaluation(data) + timedelta(seconds=1))
    return rule_checks.check_all(
        data,
        changes.pop("expected", SAMPLE),
        changes.pop("answers", answers(version, "rules-green")),
        changes.pop("started", started(version, "rules-green")),
        now,
        15.0,
    )


def faults(
    version: str, expected: ExpectedRules | None = None, watchdog: str | None = "Watchdog"
) -> list[CheckResult]:
    """The faults server judged, by default against the faults config's own groups."""
    expected = expected or ExpectedRules.from_config(FAULTS, watchdog)
    data = recorded(version, "rules-faults", "rules")
    found = {s: one_series(s) for s in rule_checks.server_selectors(data)}
    found |= {s: a for s, a in answers(version, "rules-faults").items() if s in found}
    now = last_evaluation(data) + timedelta(seconds=1)
    return rule_checks.check_all(data, expected, found, started(version, "rules-faults"), now, 15.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_repos_rules_pass_on_the_recorded_green_server(version: str) -> None:
    results = green(version)
    assert [(r.name, r.criterion, r.ok) for r in results] == [
        ("rules", "rules loaded and evaluating", True),
        ("rule selectors", "AC7 queries return data", True),
        ("watchdog", "alerting works (Watchdog fires)", True),
    ]
    # The recorder evaluates every second: each group was evaluated within the last 2s.
    assert [line.split(",")[0] for line in results[0].evidence] == [
        "group sample-service.recording: 3 rules",
        "group sample-service.alerts: 4 rules",
    ]
    assert all(line.endswith("(every 1s), all healthy") for line in results[0].evidence)
    # One line per (rule, selector) the server's rules hold.
    assert (
        "record service:enhancement_error_ratio:rate5m: "
        'enhancement_requests_total{status="failure"} matches 2 series'
    ) in results[1].evidence
    assert len(results[1].evidence) == 7
    assert (
        results[2]
        .evidence[0]
        .startswith("alert Watchdog (group sample-service.alerts) is firing since 2026-")
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_a_rule_whose_evaluation_fails_is_named_with_its_error(version: str) -> None:
    result = faults(version)[0]
    assert not result.ok
    first = result.evidence[0]
    # Named with its group, the file the server loaded it from, and the server's error.
    assert first.startswith(
        "record tenant:enhancement_requests:doubled (group faults.recording in /"
    ), first
    assert (
        "/rules/faults.rules.yml) fails to evaluate: found duplicate series for the match "
        'group {tenant_id="acme"} on the right hand-side of the operation: ['
    ) in first, first
    assert first.endswith(
        "many-to-many matching not allowed: matching labels must be unique on one side"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_a_group_not_evaluated_yet_is_named(version: str) -> None:
    result = faults(version)[0]
    assert result.evidence[1] == "group faults.daily has not been evaluated yet (every 1d)"
    # The group with the failing rule was evaluated: only its rule is named.
    assert result.evidence[2].startswith("group faults.recording: 2 rules, evaluated ")
    assert result.evidence[3].startswith("group faults.alerts: 1 rule, evaluated ")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_selector_matching_nothing_names_the_rule_and_the_selector(version: str) -> None:
    result = faults(version)[1]
    assert not result.ok
    assert result.evidence[0] == (
        "record service:no_such:rate1m (faults.rules.yml:9): its selector no_such_metric_total "
        "matches no series: is its metric scraped (inv verify.targets), with traffic "
        "(inv traffic)?"
    )
    assert len([line for line in result.evidence if "matches no series" in line]) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_recorded_series_missing_says_which_rule_records_it(version: str) -> None:
    found = answers(version, "rules-green")
    empty = {"resultType": "vector", "result": []}
    selector = "service:enhancement_error_ratio:rate5m"
    found[selector] = SelectorAnswer(selector, f"count({selector})", data=empty)
    result = green(version, answers=found)[1]
    assert not result.ok
    assert result.evidence[0] == (
        "alert HighErrorRate (sample-service.rules.yml:37): its selector "
        "service:enhancement_error_ratio:rate5m matches no series (recorded by the rule "
        "service:enhancement_error_ratio:rate5m: its inputs have no data yet?): is its metric "
        "scraped (inv verify.targets), with traffic (inv traffic)?"
    )


def test_a_selector_the_server_refuses_is_named_with_its_error() -> None:
    found = answers("prometheus-2.42", "rules-green")
    found["up"] = SelectorAnswer("up", "count(up)", error="bad_data: parse error")
    result = green("prometheus-2.42", answers=found)[1]
    assert result.evidence[0] == (
        "alert TargetDown (sample-service.rules.yml:30): looking up its selector up failed: "
        "bad_data: parse error"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_the_watchdog_renamed_on_the_server_is_not_loaded(version: str) -> None:
    results = faults(version, SAMPLE)
    watchdog = results[2]
    assert not watchdog.ok
    assert watchdog.evidence == [
        "alert Watchdog (sample-service.rules.yml:24) is not loaded on the server: no alert "
        "is named Watchdog"
    ]
    # The repo's groups are not there at all: each is named with what the server loads.
    assert results[0].evidence[0] == (
        "group sample-service.recording (sample-service.rules.yml) is not loaded on the "
        "server (it loads: faults.alerts, faults.daily, faults.recording): its rule_files "
        "must match the file there; reload or redeploy Prometheus"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_rules_without_a_watchdog_fail_saying_how_to_add_one(version: str) -> None:
    watchdog = faults(version)[2]
    assert watchdog.evidence == [
        f"the rules of {FAULTS_CONFIG} define no Watchdog alert: add one that always fires "
        "(alert: Watchdog, expr: vector(1)) to prove alerting works"
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_watchdog_not_firing_is_named_with_its_state(version: str) -> None:
    data = recorded(version, "rules-green", "rules")
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule["name"] == "Watchdog":
                rule["state"] = "inactive"
    now = last_evaluation(data) + timedelta(seconds=1)
    found = answers(version, "rules-green")
    results = rule_checks.check_all(data, SAMPLE, found, None, now, 15.0)
    assert results[2].evidence == [
        "alert Watchdog (group sample-service.alerts) is inactive, expected firing"
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_group_evaluated_long_ago_is_stale(version: str) -> None:
    data = recorded(version, "rules-green", "rules")
    result = green(version, now=last_evaluation(data) + timedelta(minutes=5))[0]
    assert not result.ok
    assert result.evidence[0].startswith("group sample-service.recording was last evaluated 30")
    assert result.evidence[0].endswith(
        "s ago, over 2 evaluation intervals (1s each): is its evaluation stuck? check "
        "Prometheus' logs"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_a_group_evaluated_before_the_server_started_fails(version: str) -> None:
    data = recorded(version, "rules-green", "rules")
    later = last_evaluation(data) + timedelta(seconds=0.5)
    result = green(version, started=later)[0]
    assert not result.ok
    assert any(
        line.startswith("group sample-service.") and ", before the server started at " in line
        for line in result.evidence
    )


def test_a_config_loading_no_rules_fails_with_a_hint() -> None:
    empty = ExpectedRules.from_config(RepoRules(Path("/etc/x/prometheus.yml"), ()), "Watchdog")
    results = green("prometheus-2.42", expected=empty)
    assert [(r.name, r.ok) for r in results] == [("rules", False)]
    assert results[0].evidence == [
        "the Prometheus config /etc/x/prometheus.yml loads no rule groups (no rule_files, or "
        "they match no file): add rule_files (e.g. rules/*.rules.yml), or set expect.rules: "
        "false if this deployment has no rules"
    ]


def test_expect_rules_false_still_judges_the_loaded_groups() -> None:
    results = green("prometheus-2.42", expected=ExpectedRules(rule_checks.NO_RULES), answers={})
    assert [(r.name, r.ok) for r in results] == [("rules", True)]
    assert sorted(line.split(",")[0] for line in results[0].evidence[:2]) == [
        "group sample-service.alerts: 4 rules",
        "group sample-service.recording: 3 rules",
    ]
    assert results[0].evidence[2:] == ["no rules expected (expect.rules is false)"]


def test_expect_rules_false_fails_a_loaded_rule_that_fails() -> None:
    results = faults("prometheus-3.16", ExpectedRules(rule_checks.NO_RULES))
    assert [(r.name, r.ok) for r in results] == [("rules", False)]
    assert any(" fails to evaluate: found duplicate series" in e for e in results[0].evidence)


def test_a_rules_answer_of_the_wrong_shape_is_unexpected() -> None:
    with pytest.raises(UnexpectedPayload, match=r"data\.groups is not a list"):
        rule_checks.check_all({"groups": {}}, SAMPLE, {}, None, datetime.now(), 15.0)


def test_each_distinct_selector_is_looked_up_once() -> None:
    assert REPO.selectors() == (
        "enhancement_requests_total",
        'enhancement_requests_total{status="failure"}',
        "enhancement_duration_seconds_bucket",
        "up",
        "service:enhancement_error_ratio:rate5m",
        "queue_depth",
    )
    assert rule_checks.count_query("up") == "count(up)"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_selectors_come_from_the_servers_rules(version: str) -> None:
    data = recorded(version, "rules-green", "rules")
    assert sorted(rule_checks.server_selectors(data)) == sorted(REPO.selectors())


@pytest.mark.parametrize("version", VERSIONS)
def test_undeclared_rules_judge_every_loaded_group_and_say_how_to_declare(version: str) -> None:
    results = faults(version, ExpectedRules(rule_checks.UNDECLARED))
    rules_row, selectors_row, watchdog = results
    assert not rules_row.ok
    assert any(
        line.startswith("record tenant:enhancement_requests:doubled (group faults.recording in ")
        for line in rules_row.evidence
    )
    assert rules_row.evidence[-1] == rule_checks.DECLARE_RULES
    assert "set expect.rules to the groups this server must load" in rules_row.evidence[-1]
    # Selectors are the server's: the rule is named by its group and file.
    assert selectors_row.evidence[0].startswith(
        "record service:no_such:rate1m (group faults.recording in /"
    )
    assert (
        watchdog.ok
        and "no always-firing alert expected (expect.watchdog)" in (watchdog.evidence[0])
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_named_groups_must_be_loaded_and_a_named_watchdog_must_fire(version: str) -> None:
    named = ExpectedRules(rule_checks.NAMED, names=("faults.alerts", "user.alerts"))
    rules_row = faults(version, named)[0]
    assert rules_row.evidence[0] == (
        "group user.alerts (expect.rules) is not loaded on the server (it loads: faults.alerts, "
        "faults.daily, faults.recording): load its rule file (rule_files) and reload "
        "Prometheus, or drop it from expect.rules"
    )
    firing = faults(
        version,
        ExpectedRules(rule_checks.NAMED, names=("faults.alerts",), watchdog="DeadMansSwitch"),
    )
    assert firing[2].ok, firing[2]
    assert firing[2].evidence[0].startswith("alert DeadMansSwitch (group faults.alerts) is firing")
    missing = faults(
        version, ExpectedRules(rule_checks.NAMED, names=("faults.alerts",), watchdog="Watchdog")
    )
    assert missing[2].evidence == [
        "alert Watchdog (expect.watchdog) is not loaded on the server: no alert is named Watchdog"
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_users_own_failing_rule_is_named_with_its_file_and_error(version: str) -> None:
    """A user's server (recorded: user-server): its group judged though nothing expects it."""
    data = json.loads((FIXTURES / version / "user-server" / "rules.json").read_text())["data"]
    now = last_evaluation(data) + timedelta(seconds=1)
    found = {s: one_series(s) for s in rule_checks.server_selectors(data)}
    expected = ExpectedRules(rule_checks.UNDECLARED)
    rules_row, selectors_row, watchdog = rule_checks.check_all(
        data, expected, found, None, now, 1.0
    )
    assert not rules_row.ok and selectors_row.ok and watchdog.ok
    first = rules_row.evidence[0]
    assert first.startswith("alert UserTargetDown (group user.alerts in /"), first
    assert "/rules/user.rules.yml) fails to evaluate: found duplicate series" in first
    assert "many-to-many matching not allowed" in first
    assert rules_row.evidence[-1] == rule_checks.DECLARE_RULES
    # Named as a setting, the always-firing alert is held to firing.
    named = ExpectedRules(rule_checks.NAMED, names=("user.alerts",), watchdog="UserAlwaysFiring")
    assert rule_checks.check_all(data, named, found, None, now, 1.0)[2].ok


# --- boundaries the mutation run (docs/testing.md) found untested ------------------------

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=checks.UTC)
TWO_FILES = RepoRules(
    Path("prometheus.yml"),
    rules.load_rule_text(
        Path("a.rules.yml"),
        "groups:\n  - name: g1\n    rules:\n      - record: r1\n        expr: up\n",
    )
    + rules.load_rule_text(
        Path("b.rules.yml"),
        "groups:\n  - name: g2\n    rules:\n      - record: r2\n        expr: down\n",
    ),
)


def served(*groups: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "groups": [
            {"name": name, "file": f"{name}.yml", "interval": 15, "rules": rules_}
            for name, rules_ in groups
        ]
    }


def record(name: str, query: str) -> dict[str, Any]:
    return {"type": "recording", "name": name, "query": query, "health": "ok"}


def test_a_rule_is_placed_in_its_own_groups_file() -> None:
    second = TWO_FILES.groups[1].rules[0]
    assert TWO_FILES.where(second) == "record r2 (b.rules.yml:4)"
    assert TWO_FILES.selectors() == ("up", "down")


def test_a_missing_group_names_its_file_and_that_the_server_loads_none() -> None:
    expected = ExpectedRules.from_config(TWO_FILES)
    assert expected.source == rule_checks.FROM_CONFIG
    result = rule_checks.check_rules({"groups": []}, expected, None, NOW, 15.0)
    assert result.evidence[1] == (
        "group g2 (b.rules.yml) is not loaded on the server (it loads: none): its rule_files "
        "must match the file there; reload or redeploy Prometheus"
    )
    assert result.evidence[-1] == "the server loads no rule groups"


def test_groups_are_keyed_by_their_own_name_first_one_kept() -> None:
    data = served(("a", []), ("b", []), ("a", [record("x", "up")]))
    groups = rule_checks.server_groups(data)
    assert list(groups) == ["a", "b"] and groups["a"].rules == ()
    assert rule_checks.server_selectors(served(("a", [record("x", "up + up")]))) == ("up",)


def test_a_config_loading_no_rules_is_judged_under_its_criterion() -> None:
    result = rule_checks.no_rules(Path("p.yml"))
    assert (result.name, result.criterion, result.ok) == ("rules", rule_checks.RULES, False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("x", "the answer to count(up) is not an object"),
        ({"result": "x"}, "data.result is not a list"),
        ({"result": ["x"]}, "a query result series is not an object"),
    ],
)
def test_a_selector_answer_of_the_wrong_shape_is_unexpected(data: Any, message: str) -> None:
    answer = SelectorAnswer("up", "count(up)", data=data)
    with pytest.raises(UnexpectedPayload, match=f"unexpected payload: {re.escape(message)}$"):
        rule_checks.check_rule_selectors(served(("g", [record("x", "up")])), {"up": answer})


@pytest.mark.parametrize("value", [None, [0], [0, "0"], "1"])
def test_a_count_without_a_sample_or_of_zero_matches_no_series(value: Any) -> None:
    answer = SelectorAnswer("up", "count(up)", data={"result": [{"value": value}]})
    result = rule_checks.check_rule_selectors(served(("g", [record("x", "up")])), {"up": answer})
    assert not result.ok
    assert result.evidence[0].startswith("record x (group g in g.yml): its selector up matches no")


def test_a_failed_lookup_or_an_unparsable_query_fails_the_selectors() -> None:
    refused = SelectorAnswer("up", "count(up)", error="bad_data: no")
    result = rule_checks.check_rule_selectors(served(("g", [record("x", "up")])), {"up": refused})
    assert not result.ok
    result = rule_checks.check_rule_selectors(served(("g", [record("x", "up +")])), {})
    assert result == CheckResult(
        "rule selectors",
        checks.AC7,
        False,
        ["record x (group g in g.yml): promkit cannot parse its query 'up +'"],
    )


def test_rules_selecting_nothing_pass_the_selectors_saying_so() -> None:
    assert rule_checks.check_rule_selectors(served(("g", [])), {}) == CheckResult(
        "rule selectors", checks.AC7, True, ["the server's rules select no series"]
    )


def test_no_watchdog_expected_passes_saying_how_to_expect_one() -> None:
    result = rule_checks.check_watchdog(served(), ExpectedRules(rule_checks.UNDECLARED))
    assert result.ok and result.evidence == [
        "no always-firing alert expected (expect.watchdog): set it to the name of an alert "
        "that always fires (expr: vector(1)) to prove alerting works"
    ]


def group_at(last: datetime | None, *rules_: dict[str, Any], file: str = "g.yml") -> Any:
    stamp = None if last is None else last.isoformat().replace("+00:00", "Z")
    return {
        "groups": [
            {
                "name": "g",
                "file": file,
                "interval": 15,
                "lastEvaluation": stamp,
                "rules": list(rules_),
            }
        ]
    }


@pytest.mark.parametrize(
    ("started_s", "age_s", "ok", "says"),
    [
        (0, 0, True, "evaluated 0s ago"),  # evaluated the moment the server started
        (None, 30, True, "evaluated 30s ago"),  # two intervals old: not stale yet
        (None, 31, False, "last evaluated 31s ago, over 2 evaluation intervals"),
        (None, -5, True, "evaluated 0s ago"),  # the server's clock a little ahead
    ],
)
def test_group_evaluation_boundaries(
    started_s: float | None, age_s: float, ok: bool, says: str
) -> None:
    last = NOW - timedelta(seconds=age_s)
    start = None if started_s is None else last - timedelta(seconds=started_s)
    expected = ExpectedRules(rule_checks.UNDECLARED)
    result = rule_checks.check_rules(group_at(last), expected, start, NOW, 15.0)
    assert result.ok is ok and says in result.evidence[0]


def test_failing_and_unevaluated_rules_are_named_plainly() -> None:
    rules_ = (
        {"type": "recording", "name": "a", "query": "up", "health": "err"},
        {"type": "recording", "name": "b", "query": "up", "health": "unknown"},
    )
    expected = ExpectedRules(rule_checks.UNDECLARED)
    result = rule_checks.check_rules(group_at(NOW, *rules_, file=""), expected, None, NOW, 15.0)
    assert result.evidence[:2] == [
        "record a (group g) fails to evaluate: no error given",
        "record b (group g) has not been evaluated yet (health unknown)",
    ]


def test_a_repo_rule_missing_from_its_group_on_the_server_is_named() -> None:
    data = group_at(NOW)
    data["groups"][0]["name"] = "g1"
    result = rule_checks.check_rules(data, ExpectedRules.from_config(TWO_FILES), None, NOW, 15.0)
    assert "record r1 (a.rules.yml:4) is not in group g1 on the server: reload Prometheus" in (
        result.evidence
    )


def test_a_watchdog_the_repo_does_not_define_fails() -> None:
    result = rule_checks.check_watchdog(served(), ExpectedRules.from_config(TWO_FILES, "W"))
    assert result.ok is False and result.evidence == [
        "the rules of prometheus.yml define no W alert: add one that always fires "
        "(alert: W, expr: vector(1)) to prove alerting works"
    ]


def alert(state: str, active_at: str = "") -> dict[str, Any]:
    alerts = [{"activeAt": active_at}] if active_at else []
    return {"type": "alerting", "name": "W", "query": "vector(1)", "state": state, "alerts": alerts}


NOT_EVALUATED = ": its group has not been evaluated yet"
W = "alert W (group g)"


@pytest.mark.parametrize(
    ("data", "ok", "line"),
    [
        (served(), False, "alert W (expect.watchdog) is not loaded on the server: no alert is named W"),  # noqa: E501
        (group_at(None, alert("")), False, f"{W} is in no state, expected firing{NOT_EVALUATED}"),
        (group_at(NOW, alert("inactive")), False, f"{W} is inactive, expected firing"),
        (group_at(NOW, alert("firing")), True, f"{W} is firing"),
        (group_at(NOW, alert("firing", "11:00Z")), True, f"{W} is firing since 11:00Z"),
    ],
)  # fmt: skip
def test_a_named_watchdog_is_judged_by_its_state(data: Any, ok: bool, line: str) -> None:
    result = rule_checks.check_watchdog(data, ExpectedRules(rule_checks.NAMED, watchdog="W"))
    assert (result.ok, result.evidence) == (ok, [line])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("x", "rules data is not an object"),
        ({"groups": "x"}, "data.groups is not a list"),
        ({"groups": ["x"]}, "a rule group is not an object"),
        ({"groups": [{"rules": "x"}]}, "a group's rules is not a list"),
        ({"groups": [{"rules": ["x"]}]}, "a rule is not an object"),
    ],
)
def test_rules_data_of_the_wrong_shape_names_the_part(data: Any, message: str) -> None:
    with pytest.raises(UnexpectedPayload, match=f"unexpected payload: {re.escape(message)}$"):
        rule_checks.loaded_groups(data)


def test_groups_and_rules_missing_their_fields_get_placeholders() -> None:
    assert rule_checks.loaded_groups({"groups": None}) == []
    raw = {"groups": [{"rules": [{}, {"type": "x", "alerts": ["not an alert"]}]}]}
    (group,) = rule_checks.loaded_groups(raw)
    assert (group.name, group.file, group.interval_s, group.last_evaluation) == (
        "?",
        "",
        None,
        None,
    )
    blank = rule_checks.ServerRule("rule", "?", "unknown", "", "", "", "")
    assert group.rules == (blank, rule_checks.ServerRule("x", "?", "unknown", "", "", "", ""))


def test_a_group_without_an_interval_is_judged_at_the_expected_one() -> None:
    data = group_at(NOW - timedelta(seconds=50))
    del data["groups"][0]["interval"]
    result = rule_checks.check_rules(data, ExpectedRules(rule_checks.UNDECLARED), None, NOW, 30.0)
    assert result.ok and "(every 30s)" in result.evidence[0]


def test_no_loaded_groups_is_said_first() -> None:
    result = rule_checks.check_rules(
        {"groups": []}, ExpectedRules(rule_checks.UNDECLARED), None, NOW, 15.0
    )
    assert result.evidence == ["the server loads no rule groups", rule_checks.DECLARE_RULES]


def test_check_all_judges_groups_without_an_interval_at_the_expected_one() -> None:
    data = group_at(NOW)
    del data["groups"][0]["interval"]
    expected = ExpectedRules(rule_checks.UNDECLARED)
    rules_result = rule_checks.check_all(data, expected, {}, None, NOW, 60.0)[0]
    assert rules_result.ok and "(every 1m)" in rules_result.evidence[0]
