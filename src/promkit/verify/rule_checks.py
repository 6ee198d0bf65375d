"""verify.rules: every rule group the server loads evaluates cleanly; the expected ones are
there, and alert.

Pure checks over ``/api/v1/rules`` and one ``count(<selector>)`` answer per distinct
selector of the server's rules (their ``query`` fields). Three results: ``rules`` (every
loaded group evaluated since the server started and lately, every rule healthy, failing
ones named with file, group and error; every expected group loaded), ``rule selectors``
(every selector matches a series) and ``watchdog`` (the always-firing alert fires, so
alerting itself works). What is expected is an ``ExpectedRules``: the groups of the rule
files promkit deploys, groups named in the settings, none declared, or no rules at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from promkit.core.durations import format_duration
from promkit.rules.files import Rule, RuleGroup, metric_names, selectors

# checks' defensive payload readers, so a rules answer of the wrong shape is exit 2 alike.
from promkit.verify.checks import AC7
from promkit.verify.result import (
    CheckResult,
    parse_time,
    payload_list,
    payload_mapping,
    payload_number,
    payload_text,
)

RULES = "rules loaded and evaluating"
ALERTING = "alerting works (Watchdog fires)"
#: The alert that always fires (expr: vector(1)): proof that rules evaluate and alert.
WATCHDOG = "Watchdog"
#: A group is stale when its last evaluation is older than this many intervals.
STALE_INTERVALS = 2
_KINDS = {"alerting": "alert", "recording": "record"}


@dataclass(frozen=True)
class RepoRules:
    """The rule groups a deployment should run, and the Prometheus config naming them."""

    config_file: Path
    groups: tuple[RuleGroup, ...]

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for group in self.groups for rule in group.rules)

    def selectors(self) -> tuple[str, ...]:
        """Every distinct selector of every rule, in file order."""
        return tuple(dict.fromkeys(s for rule in self.rules for s in selectors(rule.expr)))

    def where(self, rule: Rule) -> str:
        """``record x (sample-service.rules.yml:12)``."""
        group = next(g for g in self.groups if g.name == rule.group)
        return f"{rule.kind} {rule.name} ({group.file.name}:{rule.line})"

    def find(self, group: str, kind: str, name: str) -> Rule | None:
        """The repo's rule ``kind name`` of ``group``, if it has one."""
        return next(
            (r for r in self.rules if (r.group, r.kind, r.name) == (group, kind, name)), None
        )


#: Where verify.rules' expected groups come from (ExpectedRules.source).
FROM_CONFIG, NAMED, UNDECLARED, NO_RULES = "config", "named", "undeclared", "none"


@dataclass(frozen=True)
class ExpectedRules:
    """What verify.rules expects beyond judging every group the server loads.

    ``source``: FROM_CONFIG (the groups of ``repo``, the rule files promkit deploys),
    NAMED (the groups ``names``, from expect.rules), UNDECLARED (nothing says: every
    loaded group is judged, none required) or NO_RULES (expect.rules false).
    ``watchdog``: the always-firing alert expected firing, or None.
    """

    source: str
    repo: RepoRules | None = None
    names: tuple[str, ...] = field(default_factory=tuple)
    watchdog: str | None = None

    @classmethod
    def from_config(cls, repo: RepoRules, watchdog: str | None = None) -> ExpectedRules:
        return cls(FROM_CONFIG, repo=repo, watchdog=watchdog)

    def group_names(self) -> tuple[str, ...]:
        if self.repo is not None:
            return tuple(group.name for group in self.repo.groups)
        return self.names


@dataclass(frozen=True)
class SelectorAnswer:
    """What the server said to ``count(<selector>)``: the verify round's ``selector:N``."""

    selector: str
    promql: str
    data: Any = None
    error: str | None = None


def count_query(selector: str) -> str:
    """The cheap instant query asking how many series ``selector`` matches now."""
    return f"count({selector})"


@dataclass(frozen=True)
class ServerRule:
    """The parts of a loaded rule the checks judge."""

    kind: str
    name: str
    health: str
    last_error: str
    state: str
    active_at: str
    query: str = ""


@dataclass(frozen=True)
class ServerGroup:
    """A rule group as the server loaded it."""

    name: str
    file: str
    interval_s: float | None
    last_evaluation: datetime | None
    rules: tuple[ServerRule, ...]


def _server_rule(raw: Any) -> ServerRule:
    item = payload_mapping(raw, "a rule")
    alerts = item.get("alerts")
    first = alerts[0] if isinstance(alerts, list) and alerts else {}
    return ServerRule(
        kind=_KINDS.get(payload_text(item.get("type")), payload_text(item.get("type")) or "rule"),
        name=payload_text(item.get("name")) or "?",
        health=payload_text(item.get("health")) or "unknown",
        last_error=payload_text(item.get("lastError")),
        state=payload_text(item.get("state")),
        active_at=payload_text(first.get("activeAt")) if isinstance(first, Mapping) else "",
        query=payload_text(item.get("query")),
    )


def loaded_groups(rules_data: Any) -> list[ServerGroup]:
    """Every group of a ``/api/v1/rules`` answer, in the server's order."""
    found: list[ServerGroup] = []
    groups = payload_mapping(rules_data, "rules data").get("groups")
    for raw in payload_list([] if groups is None else groups, "data.groups"):
        item = payload_mapping(raw, "a rule group")
        found.append(
            ServerGroup(
                payload_text(item.get("name")) or "?",
                payload_text(item.get("file")),
                payload_number(item.get("interval")),
                parse_time(item.get("lastEvaluation")),
                tuple(
                    _server_rule(r)
                    for r in payload_list(item.get("rules") or [], "a group's rules")
                ),
            )
        )
    return found


def server_groups(rules_data: Any) -> dict[str, ServerGroup]:
    """The groups of a ``/api/v1/rules`` answer by name (the first, if a name repeats)."""
    found: dict[str, ServerGroup] = {}
    for group in loaded_groups(rules_data):
        found.setdefault(group.name, group)
    return found


def query_selectors(query: str) -> tuple[str, ...] | None:
    """The selectors of a server rule's query, None if promkit cannot parse it."""
    try:
        return selectors(query)
    except Exception:  # promql_parser raises its own errors on PromQL it does not know
        return None


def server_selectors(rules_data: Any) -> tuple[str, ...]:
    """Every distinct selector of every rule the server loads, in the server's order."""
    rules = (rule for group in loaded_groups(rules_data) for rule in group.rules)
    return tuple(dict.fromkeys(s for rule in rules for s in query_selectors(rule.query) or ()))


# -- rules: loaded, evaluated, healthy -----------------------------------------------------

#: How to declare the groups a server must load, where nothing says.
DECLARE_RULES = (
    "no expected rule groups declared: set expect.rules to the groups this server must load "
    "(promkit init --url URL writes them), or false if it has no rules"
)


def _missing_group(name: str, expected: ExpectedRules, loaded: Sequence[ServerGroup]) -> str:
    names = ", ".join(sorted({g.name for g in loaded})) or "none"
    if expected.repo is not None:
        group = next(g for g in expected.repo.groups if g.name == name)
        return (
            f"group {name} ({group.file.name}) is not loaded on the server (it loads: "
            f"{names}): its rule_files must match the file there; reload or redeploy Prometheus"
        )
    return (
        f"group {name} (expect.rules) is not loaded on the server (it loads: {names}): "
        "load its rule file (rule_files) and reload Prometheus, or drop it from expect.rules"
    )


def _evaluation_line(
    group: ServerGroup, started: datetime | None, now: datetime, interval_s: float
) -> tuple[bool, str]:
    every = format_duration(round(interval_s))
    last = group.last_evaluation
    if last is None:
        return False, f"group {group.name} has not been evaluated yet (every {every})"
    if started is not None and last < started:
        return False, (
            f"group {group.name} was last evaluated at {last:%Y-%m-%dT%H:%M:%SZ}, before the "
            f"server started at {started:%Y-%m-%dT%H:%M:%SZ}"
        )
    age = max(0.0, (now - last).total_seconds())
    if age > STALE_INTERVALS * interval_s:
        return False, (
            f"group {group.name} was last evaluated {age:.0f}s ago, over {STALE_INTERVALS} "
            f"evaluation intervals ({every} each): is its evaluation stuck? check Prometheus' logs"
        )
    return True, (
        f"group {group.name}: {len(group.rules)} rule{'' if len(group.rules) == 1 else 's'}, "
        f"evaluated {age:.0f}s ago (every {every})"
    )


def _in_group(group: ServerGroup) -> str:
    return f"group {group.name} in {group.file}" if group.file else f"group {group.name}"


def _rule_lines(group: ServerGroup) -> list[str]:
    lines = []
    for rule in group.rules:
        named = f"{rule.kind} {rule.name} ({_in_group(group)})"
        if rule.health == "err" or rule.last_error:
            lines.append(f"{named} fails to evaluate: {rule.last_error or 'no error given'}")
        elif rule.health != "ok" and group.last_evaluation is not None:
            lines.append(f"{named} has not been evaluated yet (health {rule.health})")
    return lines


def _missing_rules(served: ServerGroup, repo: RepoRules | None) -> list[str]:
    group = next((g for g in repo.groups if g.name == served.name), None) if repo else None
    if repo is None or group is None:
        return []
    there = {(rule.kind, rule.name) for rule in served.rules}
    return [
        f"{repo.where(rule)} is not in group {group.name} on the server: reload Prometheus"
        for rule in group.rules
        if (rule.kind, rule.name) not in there
    ]


def _group_lines(
    served: ServerGroup,
    repo: RepoRules | None,
    started: datetime | None,
    now: datetime,
    interval_s: float,
) -> list[tuple[bool, str]]:
    ok, line = _evaluation_line(served, started, now, served.interval_s or interval_s)
    problems = _missing_rules(served, repo) + _rule_lines(served)
    if ok and not problems:
        return [(True, f"{line}, all healthy")]
    return [(ok, line), *((False, problem) for problem in problems)]


def no_rules(config_file: Path) -> CheckResult:
    """The failure when the deployed config loads no rule groups at all."""
    return CheckResult(
        "rules",
        RULES,
        False,
        [
            f"the Prometheus config {config_file} loads no rule groups (no rule_files, or they "
            "match no file): add rule_files (e.g. rules/*.rules.yml), or set expect.rules: "
            "false if this deployment has no rules"
        ],
    )


def _in_order(loaded: Sequence[ServerGroup], expected: Sequence[str]) -> list[ServerGroup]:
    """The loaded groups, the expected ones first in their order, then the server's others."""
    rank = {name: index for index, name in enumerate(expected)}
    return sorted(loaded, key=lambda g: rank.get(g.name, len(rank)))


def check_rules(
    rules_data: Any,
    expected: ExpectedRules,
    started: datetime | None,
    now: datetime,
    interval_s: float,
) -> CheckResult:
    """Every loaded group evaluated since the start and lately, every rule healthy; every
    expected group loaded.

    ``interval_s`` is the expected evaluation interval, for groups the server gives none.
    """
    loaded = loaded_groups(rules_data)
    if expected.repo is not None and not expected.repo.groups:
        return no_rules(expected.repo.config_file)
    wanted = expected.group_names()
    names = {group.name for group in loaded}
    lines = [
        (False, _missing_group(name, expected, loaded)) for name in wanted if name not in names
    ]
    for group in _in_order(loaded, wanted):
        lines += _group_lines(group, expected.repo, started, now, interval_s)
    notes = []
    if expected.source == UNDECLARED:
        notes.append(DECLARE_RULES)
    elif expected.source == NO_RULES:
        notes.append("no rules expected (expect.rules is false)")
    if not loaded:
        notes.insert(0, "the server loads no rule groups")
    failed = [line for ok, line in lines if not ok]
    return CheckResult(
        "rules", RULES, not failed, failed + [line for ok, line in lines if ok] + notes
    )


# -- rule selectors: every selector matches a series ------------------------------------------


def _series_count(answer: SelectorAnswer) -> int:
    data = payload_mapping(answer.data, f"the answer to {answer.promql}")
    result = payload_list(data.get("result"), "data.result")
    if not result:
        return 0
    value = payload_mapping(result[0], "a query result series").get("value")
    number = payload_number(value[1]) if isinstance(value, list) and len(value) == 2 else None
    return int(number or 0)


def _recorded_by(selector: str, loaded: Sequence[ServerGroup]) -> str:
    names = metric_names(selector)
    rules = [r.name for g in loaded for r in g.rules if r.kind == "record" and r.name in names]
    return f" (recorded by the rule {rules[0]}: its inputs have no data yet?)" if rules else ""


def _where(group: ServerGroup, rule: ServerRule, repo: RepoRules | None) -> str:
    """``record x (x.rules.yml:12)`` when the repo has it, else by its group and file."""
    mine = repo.find(group.name, rule.kind, rule.name) if repo is not None else None
    if repo is not None and mine is not None:
        return repo.where(mine)
    return f"{rule.kind} {rule.name} ({_in_group(group)})"


def _selector_line(
    where: str,
    rule: ServerRule,
    selector: str,
    answer: SelectorAnswer,
    loaded: Sequence[ServerGroup],
) -> tuple[bool, str]:
    if answer.error is not None:
        return False, f"{where}: looking up its selector {selector} failed: {answer.error}"
    count = _series_count(answer)
    if count == 0:
        recorded = _recorded_by(selector, loaded)
        return False, (
            f"{where}: its selector {selector} matches no series{recorded}: "
            "is its metric scraped (inv verify.targets), with traffic (inv traffic)?"
        )
    return True, f"{rule.kind} {rule.name}: {selector} matches {count} series"


def check_rule_selectors(
    rules_data: Any, answers: Mapping[str, SelectorAnswer], repo: RepoRules | None = None
) -> CheckResult:
    """Every selector of every rule the server loads matches at least one series there."""
    loaded = loaded_groups(rules_data)
    lines: list[tuple[bool, str]] = []
    for group in loaded:
        for rule in group.rules:
            where = _where(group, rule, repo)
            found = query_selectors(rule.query)
            if found is None:
                lines.append((False, f"{where}: promkit cannot parse its query {rule.query!r}"))
            lines += [
                _selector_line(where, rule, s, answers[s], loaded)
                for s in found or ()
                if s in answers
            ]
    if not lines:
        return CheckResult("rule selectors", AC7, True, ["the server's rules select no series"])
    failed = [line for ok, line in lines if not ok]
    passed = [line for ok, line in lines if ok]
    return CheckResult("rule selectors", AC7, not failed, failed + passed)


# -- watchdog: alerting works ------------------------------------------------------------------


def _loaded_alert(
    loaded: Sequence[ServerGroup], name: str
) -> tuple[ServerGroup, ServerRule] | None:
    for group in loaded:
        for rule in group.rules:
            if rule.kind == "alert" and rule.name == name:
                return group, rule
    return None


def _alerting(ok: bool, line: str) -> CheckResult:
    return CheckResult("watchdog", ALERTING, ok, [line])


def check_watchdog(rules_data: Any, expected: ExpectedRules) -> CheckResult:
    """The expected always-firing alert (expr: vector(1)) is loaded and firing."""
    name = expected.watchdog
    if name is None:
        return _alerting(
            True,
            "no always-firing alert expected (expect.watchdog): set it to the name of an "
            "alert that always fires (expr: vector(1)) to prove alerting works",
        )
    loaded = loaded_groups(rules_data)
    repo = expected.repo
    ours = (
        next((r for r in repo.rules if r.kind == "alert" and r.name == name), None)
        if repo
        else None
    )
    if repo is not None and ours is None:
        return _alerting(
            False,
            f"the rules of {repo.config_file} define no {name} alert: add one that "
            f"always fires (alert: {name}, expr: vector(1)) to prove alerting works",
        )
    found = _loaded_alert(loaded, name)
    if found is None:
        # ours is None only without a repo (one without the alert returned above).
        named = (
            f"alert {name} (expect.watchdog)" if repo is None or ours is None else repo.where(ours)
        )
        return _alerting(False, f"{named} is not loaded on the server: no alert is named {name}")
    group, rule = found
    if rule.state != "firing":
        when = "" if group.last_evaluation else ": its group has not been evaluated yet"
        return _alerting(
            False,
            f"alert {name} (group {group.name}) is {rule.state or 'in no state'}, "
            f"expected firing{when}",
        )
    since = f" since {rule.active_at}" if rule.active_at else ""
    return _alerting(True, f"alert {name} (group {group.name}) is firing{since}")


def check_all(
    rules_data: Any,
    expected: ExpectedRules,
    answers: Mapping[str, SelectorAnswer],
    started: datetime | None,
    now: datetime,
    interval_s: float,
) -> list[CheckResult]:
    """verify.rules' results: with no rules expected (expect.rules false) only ``rules``."""
    rules = check_rules(rules_data, expected, started, now, interval_s)
    if expected.source == NO_RULES or (expected.repo is not None and not expected.repo.groups):
        return [rules]
    return [
        rules,
        check_rule_selectors(rules_data, answers, expected.repo),
        check_watchdog(rules_data, expected),
    ]
