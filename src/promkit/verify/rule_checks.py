"""verify.rules: the repo's rule groups run on the server, evaluate cleanly, and alert.

Pure checks over ``/api/v1/rules`` and one ``count(<selector>)`` answer per
distinct selector of the repo's rules. Three results: ``rules`` (every group
loaded, evaluated since the server started and lately, every rule healthy),
``rule selectors`` (every selector matches a series) and ``watchdog`` (the
always-firing alert fires, so alerting itself works).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
        seen: dict[str, None] = {}
        for rule in self.rules:
            for selector in selectors(rule.expr):
                seen.setdefault(selector, None)
        return tuple(seen)

    def where(self, rule: Rule) -> str:
        """``record x (sample-service.rules.yml:12)``."""
        group = next(g for g in self.groups if g.name == rule.group)
        return f"{rule.kind} {rule.name} ({group.file.name}:{rule.line})"


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
    )


def server_groups(rules_data: Any) -> dict[str, ServerGroup]:
    """The groups of a ``/api/v1/rules`` answer by name (the first, if a name repeats)."""
    found: dict[str, ServerGroup] = {}
    groups = payload_mapping(rules_data, "rules data").get("groups")
    for raw in payload_list([] if groups is None else groups, "data.groups"):
        item = payload_mapping(raw, "a rule group")
        name = payload_text(item.get("name")) or "?"
        found.setdefault(
            name,
            ServerGroup(
                name,
                payload_text(item.get("file")),
                payload_number(item.get("interval")),
                parse_time(item.get("lastEvaluation")),
                tuple(
                    _server_rule(r)
                    for r in payload_list(item.get("rules") or [], "a group's rules")
                ),
            ),
        )
    return found


# -- rules: loaded, evaluated, healthy -----------------------------------------------------


def _missing_group(group: RuleGroup, loaded: Mapping[str, ServerGroup]) -> str:
    names = ", ".join(sorted(loaded)) or "none"
    return (
        f"group {group.name} ({group.file.name}) is not loaded on the server (it loads: "
        f"{names}): its rule_files must match the file there; reload or redeploy Prometheus"
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


def _rule_lines(group: ServerGroup) -> list[str]:
    lines = []
    for rule in group.rules:
        named = f"{rule.kind} {rule.name} (group {group.name})"
        if rule.health == "err" or rule.last_error:
            lines.append(f"{named} fails to evaluate: {rule.last_error or 'no error given'}")
        elif rule.health != "ok" and group.last_evaluation is not None:
            lines.append(f"{named} has not been evaluated yet (health {rule.health})")
    return lines


def _missing_rules(group: RuleGroup, loaded: ServerGroup, repo: RepoRules) -> list[str]:
    there = {(rule.kind, rule.name) for rule in loaded.rules}
    return [
        f"{repo.where(rule)} is not in group {group.name} on the server: reload Prometheus"
        for rule in group.rules
        if (rule.kind, rule.name) not in there
    ]


def _group_lines(
    group: RuleGroup,
    loaded: Mapping[str, ServerGroup],
    repo: RepoRules,
    started: datetime | None,
    now: datetime,
    interval_s: float,
) -> list[tuple[bool, str]]:
    served = loaded.get(group.name)
    if served is None:
        return [(False, _missing_group(group, loaded))]
    ok, line = _evaluation_line(served, started, now, served.interval_s or interval_s)
    problems = _missing_rules(group, served, repo) + _rule_lines(served)
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


def check_rules(
    rules_data: Any, repo: RepoRules, started: datetime | None, now: datetime, interval_s: float
) -> CheckResult:
    """Every repo group is loaded, evaluated since the start and lately, every rule healthy.

    ``interval_s`` is the expected evaluation interval, for groups the server gives none.
    """
    loaded = server_groups(rules_data)
    if not repo.groups:
        return no_rules(repo.config_file)
    lines = [
        line
        for group in repo.groups
        for line in _group_lines(group, loaded, repo, started, now, interval_s)
    ]
    failed = [line for ok, line in lines if not ok]
    return CheckResult("rules", RULES, not failed, failed + [line for ok, line in lines if ok])


def not_expected(rules_data: Any) -> CheckResult:
    """The passing result when the settings declare no rules (``expect.rules: false``)."""
    count = len(server_groups(rules_data))
    return CheckResult(
        "rules",
        RULES,
        True,
        [f"no rules expected (expect.rules is false), not checked: the server has {count} groups"],
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


def _recorded_by(selector: str, repo: RepoRules) -> str:
    names = metric_names(selector)
    rules = [r.name for r in repo.rules if r.kind == "record" and r.name in names]
    return f" (recorded by the rule {rules[0]}: its inputs have no data yet?)" if rules else ""


def _selector_line(
    rule: Rule, selector: str, answer: SelectorAnswer, repo: RepoRules
) -> tuple[bool, str]:
    if answer.error is not None:
        return False, (
            f"{repo.where(rule)}: looking up its selector {selector} failed: {answer.error}"
        )
    count = _series_count(answer)
    if count == 0:
        recorded = _recorded_by(selector, repo)
        return False, (
            f"{repo.where(rule)}: its selector {selector} matches no series{recorded}: "
            "is its metric scraped (inv verify.targets), with traffic (inv traffic)?"
        )
    return True, f"{rule.kind} {rule.name}: {selector} matches {count} series"


def check_rule_selectors(repo: RepoRules, answers: Mapping[str, SelectorAnswer]) -> CheckResult:
    """Every selector of every repo rule matches at least one series on the server."""
    lines = [
        _selector_line(rule, selector, answers[selector], repo)
        for rule in repo.rules
        for selector in selectors(rule.expr)
    ]
    if not lines:
        return CheckResult("rule selectors", AC7, True, ["the repo's rules select no series"])
    failed = [line for ok, line in lines if not ok]
    passed = [line for ok, line in lines if ok]
    return CheckResult("rule selectors", AC7, not failed, failed + passed)


# -- watchdog: alerting works ------------------------------------------------------------------


def _loaded_watchdog(loaded: Mapping[str, ServerGroup]) -> tuple[ServerGroup, ServerRule] | None:
    for group in loaded.values():
        for rule in group.rules:
            if rule.kind == "alert" and rule.name == WATCHDOG:
                return group, rule
    return None


def check_watchdog(rules_data: Any, repo: RepoRules) -> CheckResult:
    """The repo's Watchdog alert (expr: vector(1)) is loaded and firing."""
    loaded = server_groups(rules_data)
    ours = next((r for r in repo.rules if r.kind == "alert" and r.name == WATCHDOG), None)
    if ours is None:
        return CheckResult(
            "watchdog",
            ALERTING,
            False,
            [
                f"the rules of {repo.config_file} define no {WATCHDOG} alert: add one that "
                "always fires (alert: Watchdog, expr: vector(1)) to prove alerting works"
            ],
        )
    found = _loaded_watchdog(loaded)
    if found is None:
        return CheckResult(
            "watchdog",
            ALERTING,
            False,
            [f"{repo.where(ours)} is not loaded on the server: no alert is named {WATCHDOG}"],
        )
    group, rule = found
    if rule.state != "firing":
        when = "" if group.last_evaluation else ": its group has not been evaluated yet"
        return CheckResult(
            "watchdog",
            ALERTING,
            False,
            [
                f"alert {WATCHDOG} (group {group.name}) is {rule.state or 'in no state'}, "
                f"expected firing{when}"
            ],
        )
    since = f" since {rule.active_at}" if rule.active_at else ""
    return CheckResult(
        "watchdog", ALERTING, True, [f"alert {WATCHDOG} (group {group.name}) is firing{since}"]
    )


def check_all(
    rules_data: Any,
    repo: RepoRules | None,
    answers: Mapping[str, SelectorAnswer],
    started: datetime | None,
    now: datetime,
    interval_s: float,
) -> list[CheckResult]:
    """verify.rules' results; ``repo`` None: the settings declare no rules."""
    if repo is None:
        return [not_expected(rules_data)]
    if not repo.groups:
        return [no_rules(repo.config_file)]
    return [
        check_rules(rules_data, repo, started, now, interval_s),
        check_rule_selectors(repo, answers),
        check_watchdog(rules_data, repo),
    ]
