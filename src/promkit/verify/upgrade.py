"""Judges of an upgrade rehearsal: the same config, rules and queries on two Prometheus versions.

Pure functions over what each server said (its refusal at startup, ``/api/v1/targets``,
``/api/v1/rules``, label values, query answers); no I/O. ``compare(old, new)`` gives the
breakages (what works on the version in use and not on the new one, each with the fix)
and the notes (differences that break nothing the user wrote). promkit.local.rehearsal
starts the two servers; promkit.verify.rehearsal fetches what is judged here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promkit.rules.files import label_matchers
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import payload_list, payload_mapping, payload_text

#: The order of a report: where a rehearsal looks, and the categories of its findings.
CATEGORIES = ("startup", "targets", "series", "rules", "queries")
#: Labels whose values Prometheus 3 writes as floats ("1" becomes "1.0").
NORMALISED_LABELS = ("le", "quantile")


@dataclass(frozen=True)
class Workaround:
    """How the rehearsal gets past a refusal to compare the rest: ``kind`` and its argument.

    ``drop-flag`` (the flag), ``alertmanager-v2`` (none), ``drop-rule`` (the rule's name).
    """

    kind: str
    argument: str = ""


@dataclass(frozen=True)
class Refusal:
    """A version refused to start: its own error line, what it refused, and the fix."""

    category: str
    subject: str
    line: str
    fix: str
    workaround: Workaround | None = None


@dataclass(frozen=True)
class Answer:
    """What one server said to one instant query: its number of series, or its error."""

    series: int = 0
    error: str = ""


@dataclass(frozen=True)
class Side:
    """Everything one server of the rehearsal said."""

    version: str
    refusals: tuple[Refusal, ...] = ()
    #: Whether it ran (after any workarounds) so that the API answers below exist.
    ran: bool = True
    targets: Any = None
    rules: Any = None
    #: Label name (``le``, ``quantile``) -> the values its series have.
    label_values: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: PromQL -> the answer (rule queries and documented queries).
    answers: Mapping[str, Answer] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One breakage: its category, what broke, what each side said, and the fix."""

    category: str
    subject: str
    old: str
    new: str
    fix: str

    def line(self, old_version: str, new_version: str) -> str:
        return (
            f"{self.category}: {self.subject}: {old_version}: {self.old}; "
            f"{new_version}: {self.new}; fix: {self.fix}"
        )


@dataclass(frozen=True)
class Comparison:
    """A rehearsal's verdict: the breakages (exit 1 if any) and the notes."""

    old_version: str
    new_version: str
    breakages: tuple[Finding, ...]
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.breakages

    def lines(self) -> list[str]:
        return [b.line(self.old_version, self.new_version) for b in self.breakages]


# -- startup: what a version refuses ------------------------------------------------------

_FLAG = re.compile(r"unknown long flag '(--[^']+)'")
_FEATURE = re.compile(
    r"(?:unknown|removed|invalid)[^\"']*?feature[^\"']*?[\"']?([\w-]+)[\"']?", re.I
)
_AM_VERSION = re.compile(
    r"expected Alertmanager api version to be one of \[([^\]]*)\] but got (\w+)"
)
_RULE = re.compile(r'group "([^"]+)", rule \d+, "([^"]+)": (.*)')
_RENAMED_FUNCTIONS = {
    "holt_winters": "double_exponential_smoothing "
    "(with --enable-feature=promql-experimental-functions)",
}
#: Flags Prometheus 3 removed, and what to use instead.
REMOVED_FLAGS = {
    "--alertmanager.timeout": "drop it (3.x uses the alertmanager config's timeout)",
    "--storage.tsdb.allow-overlapping-blocks": "drop it (overlapping blocks are always allowed)",
    "--storage.tsdb.retention": "use --storage.tsdb.retention.time",
}


_ERR = re.compile(r'\berr="((?:[^"\\]|\\.)*)"')
_YAML_FILE = re.compile(r"^parsing YAML file [^:]+: ")


def error_line(log: str) -> str:
    """What a server's output says about why it stopped: its last error line, or just the
    ``err`` of that line when it has one (``parsing YAML file PATH:`` left out)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if "level=error" in lowered or "error:" in lowered or 'err="' in line:
            found = _ERR.search(line)
            if found is None:
                return line
            return _YAML_FILE.sub("", found.group(1).replace('\\"', '"'))
    return lines[-1] if lines else "exited without a word"


def _flag_name(given: str) -> str:
    return given.split("=", 1)[0]


def _rule_fix(problem: str) -> str:
    for old, new in _RENAMED_FUNCTIONS.items():
        if old in problem:
            return f"{old} is renamed: use {new}"
    return "rewrite the rule for the new version (see its error)"


def refusal(log: str, flags: Sequence[str]) -> Refusal:
    """Why a server that exited at startup refused: flag, setting or rule, with the fix.

    ``flags`` are the user's flags, to name the refused one as it was given.
    """
    line = error_line(log)
    flag = _FLAG.search(line)
    if flag:
        name = flag.group(1)
        given = next((f for f in flags if _flag_name(f) == name), name)
        fix = REMOVED_FLAGS.get(name, f"drop {name} (this version has no such flag)")
        return Refusal("startup", f"flag {given}", line, fix, Workaround("drop-flag", given))
    feature = _FEATURE.search(line) if "feature" in line else None
    if feature:
        given = next(
            (f for f in flags if feature.group(1) in f), f"--enable-feature={feature.group(1)}"
        )
        fix = f"drop {given} (the feature is gone or always on)"
        return Refusal("startup", f"flag {given}", line, fix, Workaround("drop-flag", given))
    version = _AM_VERSION.search(line)
    if version:
        wanted = version.group(1).split()[-1] if version.group(1).split() else "v2"
        gone = version.group(2)
        fix = f"set api_version: {wanted} in alerting.alertmanagers (the {gone} API is gone)"
        subject = f"setting alerting.alertmanagers api_version: {version.group(2)}"
        return Refusal("startup", subject, line, fix, Workaround("alertmanager-v2", wanted))
    rule = _RULE.search(line)
    if rule:
        group, name, problem = rule.groups()
        subject = f"rule {name} (group {group})"
        said = f"refused to load it: {problem}"
        return Refusal("rules", subject, said, _rule_fix(problem), Workaround("drop-rule", name))
    return Refusal("startup", "config", line, "change what this line names")


def judge_startup(old: Side, new: Side) -> tuple[list[Finding], list[str]]:
    """Each refusal of the new version is a breakage; the old version's are notes."""
    found = [
        Finding(r.category, r.subject, "accepted it", r.line, r.fix)
        for r in new.refusals
        if r.subject not in {o.subject for o in old.refusals}
    ]
    notes = [f"{old.version} refused {r.subject} too: {r.line}" for r in old.refusals]
    return found, notes


# -- targets ------------------------------------------------------------------------------

#: Scrape errors of the new version and what fixes them.
_SCRAPE_FIXES = (
    (
        re.compile(r"content-type", re.I),
        "set fallback_scrape_protocol: PrometheusText0.0.4 in scrape job {job} (3.x only: "
        "2.x refuses it), or make the exporter send Content-Type: text/plain; version=0.0.4",
    ),
    (re.compile(r"utf-?8|invalid.*name", re.I), "fix the exporter's metric or label names"),
)


def _target_key(target: Mapping[str, Any]) -> tuple[str, str]:
    labels = payload_mapping(target.get("labels", {}), "a target's labels")
    return payload_text(labels.get("job")), payload_text(labels.get("instance"))


def _active(targets: Any) -> dict[tuple[str, str], Mapping[str, Any]]:
    if targets is None:
        return {}
    active = payload_list(
        payload_mapping(targets, "targets").get("activeTargets", []), "activeTargets"
    )
    return {_target_key(t): t for t in active if isinstance(t, Mapping)}


def _health(target: Mapping[str, Any] | None) -> str:
    if target is None:
        return "no such target"
    health = payload_text(target.get("health")) or "unknown"
    error = payload_text(target.get("lastError"))
    return f"{health}: {error}" if error and health != "up" else health


def scrape_fix(error: str, job: str) -> str:
    """What makes the new version scrape a target its scrape ``error`` names."""
    for pattern, fix in _SCRAPE_FIXES:
        if pattern.search(error):
            return fix.format(job=job)
    return "see the scrape error"


def judge_targets(old: Side, new: Side) -> tuple[list[Finding], list[str]]:
    """Each target UP on the old side and not on the new, with the new side's scrape error."""
    before, after = _active(old.targets), _active(new.targets)
    found: list[Finding] = []
    notes: list[str] = []
    for key in sorted(set(before) | set(after)):
        job, instance = key
        was, now = before.get(key), after.get(key)
        was_up = was is not None and was.get("health") == "up"
        now_up = now is not None and now.get("health") == "up"
        subject = f"target {job}/{instance}"
        if was_up and not now_up:
            error = payload_text(now.get("lastError")) if now is not None else ""
            found.append(Finding("targets", subject, "up", _health(now), scrape_fix(error, job)))
        elif now_up and not was_up:
            notes.append(f"{subject} is up on {new.version} only ({old.version}: {_health(was)})")
        elif not was_up:
            notes.append(f"{subject} is down on both: {_health(now)}")
    return found, notes


# -- series: label values Prometheus 3 normalises ------------------------------------------


def normal_form(value: str) -> str:
    """A label value as a float's text (``1`` -> ``1.0``), unchanged if it is no number."""
    try:
        number = float(value)
    except ValueError:
        return value
    if value.strip().lower() in {"+inf", "inf", "-inf", "nan"}:
        return value
    return repr(number) if number != int(number) or "e" in repr(number) else f"{number:.1f}"


def renamed_values(old: Side, new: Side) -> dict[tuple[str, str], str]:
    """(label, old value) -> the new side's value, for values that differ only in form."""
    renamed: dict[tuple[str, str], str] = {}
    for label in NORMALISED_LABELS:
        after = set(new.label_values.get(label, ()))
        for value in old.label_values.get(label, ()):
            if value in after:
                continue
            twin = next((v for v in after if normal_form(v) == normal_form(value)), None)
            if twin is not None:
                renamed[(label, value)] = twin
    return renamed


def _user_queries(old: Side, queries: Sequence[DocumentedQuery]) -> list[tuple[str, str]]:
    """(what, PromQL) of every rule of the old side and every documented query."""
    found = [(f"rule {name}", query) for name, query, _health_ in rule_list(old.rules)]
    return found + [(f"query {q.name}", q.promql) for q in queries]


def judge_series(
    old: Side, new: Side, queries: Sequence[DocumentedQuery]
) -> tuple[list[Finding], list[str], set[str]]:
    """Notes for each renamed value; a breakage for each rule or query selecting an old one.

    Also returns what the breakages name, so the rules and queries judges do not count
    the same cause twice.
    """
    renamed = renamed_values(old, new)
    notes = [
        f"label {label}: {old.version} has {value!r}, {new.version} {twin!r} (normalised, "
        "breaks nothing that does not select it)"
        for (label, value), twin in sorted(renamed.items())
    ]
    found: list[Finding] = []
    named: set[str] = set()
    for what, promql in _user_queries(old, queries):
        for selector, label, op, value in label_matchers(promql):
            twin = renamed.get((label, value))
            if op != "=" or twin is None:
                continue
            fix = f'{label}=~"{value}|{twin}" in {selector}'
            said = f"{new.version} has {label}={twin!r} only"
            found.append(Finding("series", f"{what} selects {selector}", "matches", said, fix))
            named.add(what)
    return found, notes, named


# -- rules --------------------------------------------------------------------------------


def rule_list(rules: Any) -> list[tuple[str, str, str]]:
    """(name, query, health: error) of every rule of a ``/api/v1/rules`` answer."""
    if rules is None:
        return []
    found = []
    for group in payload_list(payload_mapping(rules, "rules").get("groups", []), "groups"):
        for rule in payload_list(payload_mapping(group, "a rule group").get("rules", []), "rules"):
            rule = payload_mapping(rule, "a rule")
            health = payload_text(rule.get("health")) or "unknown"
            error = payload_text(rule.get("lastError"))
            state = f"{health}: {error}" if error else health
            found.append((payload_text(rule.get("name")), payload_text(rule.get("query")), state))
    return found


def _returns(answer: Answer | None) -> str:
    if answer is None:
        return "not asked"
    if answer.error:
        return f"error: {answer.error}"
    return f"{answer.series} series" if answer.series else "no series"


def judge_rules(old: Side, new: Side, explained: Iterable[str] = ()) -> list[Finding]:
    """Each rule healthy (and returning series) on the old side and not on the new one."""
    skip = set(explained) | {r.subject.split(" (group")[0] for r in new.refusals}
    after = {name: (query, health) for name, query, health in rule_list(new.rules)}
    found: list[Finding] = []
    for name, query, health in rule_list(old.rules):
        subject = f"rule {name}"
        if subject in skip or not health.startswith("ok"):
            continue
        if name not in after:
            found.append(Finding("rules", subject, health, "not loaded", "load its rule file"))
            continue
        new_query, new_health = after[name]
        was, now = old.answers.get(query), new.answers.get(new_query)
        if not new_health.startswith(("ok", "unknown")):
            fix = _rule_fix(new_health)
            found.append(Finding("rules", subject, health, new_health, fix))
        elif was is not None and was.series and not (now and now.series):
            said = f"{_returns(now)} from {new_query}"
            found.append(Finding("rules", subject, _returns(was), said, "see its query"))
    return found


# -- documented queries -------------------------------------------------------------------


def judge_queries(
    old: Side, new: Side, queries: Sequence[DocumentedQuery], explained: Iterable[str] = ()
) -> list[Finding]:
    """Each documented query that errs, is empty or has a different number of series on
    the new side only."""
    skip = set(explained)
    found = []
    for query in queries:
        subject = f"query {query.name}"
        was, now = old.answers.get(query.promql), new.answers.get(query.promql)
        if subject in skip or was is None or now is None or was.error:
            continue
        if now.error:
            fix = _rule_fix(now.error).replace("the rule", "the query")
        elif was.series and not now.series:
            fix = "see what it selects on the new version"
        elif was.series != now.series:
            fix = "compare the series of both versions (a label changed?)"
        else:
            continue
        found.append(
            Finding("queries", f"{subject} ({query.promql})", _returns(was), _returns(now), fix)
        )
    return found


def compare(old: Side, new: Side, queries: Sequence[DocumentedQuery]) -> Comparison:
    """Every breakage of upgrading from ``old`` to ``new``, in category order, and the notes."""
    startup, notes = judge_startup(old, new)
    if not new.ran:
        notes.append(f"{new.version} did not start: targets, series, rules, queries not compared")
        return Comparison(old.version, new.version, tuple(startup), tuple(notes))
    targets, target_notes = judge_targets(old, new)
    series, series_notes, named = judge_series(old, new, queries)
    rules = judge_rules(old, new, named)
    answered = judge_queries(old, new, queries, named)
    found = [*startup, *targets, *series, *rules, *answered]
    found.sort(key=lambda f: CATEGORIES.index(f.category))
    return Comparison(
        old.version, new.version, tuple(found), (*notes, *target_notes, *series_notes)
    )
