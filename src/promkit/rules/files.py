"""The repo's rule files: load them (file:line on any error), and read their PromQL.

A Prometheus config names its rule files in ``rule_files`` (globs, relative to the
config's folder). ``repo_groups(config_file)`` loads every group they hold;
``selectors(expr)`` lists the series selectors of an expression, which
``verify.rules`` asks the server about and ``check.rules`` looks up in the sample
service's exposition. PromQL is parsed by promql-parser (the Rust parser of
GreptimeDB, Prometheus' grammar), never by regular expressions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from promkit.core.errors import ValidationError

#: Series Prometheus makes itself, which no exporter exposes.
SYNTHETIC_METRICS = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)


class ConfigNotYAML(ValidationError):
    """The Prometheus config naming the rule files is not YAML (promtool says more)."""


class RuleFileError(ValidationError):
    """A rule file that does not load: the message names the file and the line."""


@dataclass(frozen=True)
class Rule:
    """One recording or alerting rule, as the repo writes it."""

    group: str
    kind: str  # "record" or "alert"
    name: str
    expr: str
    line: int
    duration: str | None = None  # an alert's ``for``
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleGroup:
    """One rule group of one file."""

    name: str
    file: Path
    rules: tuple[Rule, ...]
    interval: str | None = None


#: The fields Prometheus accepts (it unmarshals rule files strictly: any other is an error).
_FILE_KEYS = frozenset({"groups"})
_GROUP_KEYS = frozenset({"name", "interval", "query_offset", "limit", "labels", "rules"})
_RULE_KEYS = frozenset(
    {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
)


def _fail(path: Path, node: yaml.Node | None, reason: str) -> RuleFileError:
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    return RuleFileError(
        f"rule file {path}{line}: {reason}; fix it (promtool check rules {path}), "
        "nothing was changed"
    )


def _compose(path: Path, text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RuleFileError(
            f"rule file {path}{line}: not YAML ({exc.problem or exc.context}); fix it, "
            "nothing was changed"
        ) from None
    except yaml.YAMLError as exc:
        raise RuleFileError(f"rule file {path}: not YAML ({exc}); fix it") from None


def _items(
    path: Path, node: yaml.Node, what: str, allowed: frozenset[str] | None = None
) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{what} must be a mapping")
    items: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise _fail(path, key, f"{what} has a key that is not a string")
        if key.value in items:
            raise _fail(path, key, f"{what} sets {key.value!r} twice")
        if allowed is not None and key.value not in allowed:
            known = ", ".join(sorted(allowed))
            raise _fail(path, key, f"{what} has an unknown field {key.value!r} (known: {known})")
        items[key.value] = value
    return items


def _sequence(path: Path, node: yaml.Node | None, what: str) -> list[yaml.Node]:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~")):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(path, node, f"{what} must be a list")
    return list(node.value)


def _scalar(path: Path, node: yaml.Node | None, what: str) -> str | None:
    if node is None:
        return None
    if not isinstance(node, yaml.ScalarNode) or not node.value.strip():
        raise _fail(path, node, f"{what} must be a non-empty string")
    return str(node.value)


def _labels(path: Path, node: yaml.Node | None, what: str) -> dict[str, str]:
    if node is None:
        return {}
    return {
        key: _scalar(path, value, f"{what} {key}") or ""
        for key, value in _items(path, node, what).items()
    }


def _rule(path: Path, group: str, node: yaml.Node) -> Rule:
    items = _items(path, node, f"a rule of group {group!r}", _RULE_KEYS)
    kinds = [kind for kind in ("record", "alert") if kind in items]
    if len(kinds) != 1:
        raise _fail(path, node, f"a rule of group {group!r} needs exactly one of record, alert")
    kind = kinds[0]
    name = _scalar(path, items[kind], kind) or ""
    expr_node = items.get("expr")
    expr = _scalar(path, expr_node, f"{kind} {name}'s expr")
    if expr is None:
        raise _fail(path, node, f"{kind} {name} has no expr")
    try:
        promql_parser.parse(expr)
    except ValueError as exc:
        raise _fail(path, expr_node, f"{kind} {name}'s expr does not parse ({exc})") from None
    return Rule(
        group=group,
        kind=kind,
        name=name,
        expr=expr,
        line=node.start_mark.line + 1,
        duration=_scalar(path, items.get("for"), f"{kind} {name}'s for"),
        labels=_labels(path, items.get("labels"), f"{kind} {name}'s labels"),
    )


def _group(path: Path, node: yaml.Node) -> RuleGroup:
    items = _items(path, node, "a rule group", _GROUP_KEYS)
    name = _scalar(path, items.get("name"), "a group's name")
    if name is None:
        raise _fail(path, node, "a rule group has no name")
    rules = tuple(_rule(path, name, rule) for rule in _sequence(path, items.get("rules"), "rules"))
    return RuleGroup(name, path, rules, _scalar(path, items.get("interval"), "interval"))


def load_rule_text(path: Path, text: str) -> tuple[RuleGroup, ...]:
    """The groups of one rule file's ``text`` (``path`` names it in errors)."""
    root = _compose(path, text)
    if root is None:
        return ()
    groups = _sequence(path, _items(path, root, "a rule file", _FILE_KEYS).get("groups"), "groups")
    loaded: list[RuleGroup] = []
    for node in groups:
        group = _group(path, node)
        if any(earlier.name == group.name for earlier in loaded):
            raise _fail(
                path,
                node,
                f"group {group.name!r} is defined twice (group names must be unique in a file)",
            )
        loaded.append(group)
    return tuple(loaded)


def load_rule_file(path: Path) -> tuple[RuleGroup, ...]:
    """The groups of the rule file at ``path``; a RuleFileError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleFileError(f"cannot read rule file {path}: {exc}") from None
    return load_rule_text(path, text)


def rule_file_paths(config_file: Path) -> list[Path]:
    """The files the config's ``rule_files`` globs match, relative to its folder, sorted."""
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ValidationError(f"cannot read Prometheus config {config_file}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        raise ConfigNotYAML(
            f"Prometheus config {config_file}{where} is not YAML ({problem}): fix it "
            f"(promtool check config {config_file})"
        ) from None
    patterns = config.get("rule_files") or [] if isinstance(config, dict) else []
    found: set[Path] = set()
    for pattern in patterns:
        if Path(str(pattern)).is_absolute():
            continue  # a path inside the container; the repo's files are relative ones
        found.update(path for path in config_file.parent.glob(str(pattern)) if path.is_file())
    return sorted(found)


def repo_groups(config_file: Path) -> tuple[RuleGroup, ...]:
    """Every rule group the Prometheus config ``config_file`` loads."""
    return tuple(group for path in rule_file_paths(config_file) for group in load_rule_file(path))


def check_rule_files(paths: Sequence[Path]) -> None:
    """Raise a RuleFileError (file:line) for the first of ``paths`` that does not load."""
    for path in paths:
        load_rule_file(path)


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


_OPERATORS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _selector_text(node: Any) -> str:
    matchers = ",".join(
        f"{m.name}{_OPERATORS[str(m.op).rpartition('.')[2]]}{_quoted(m.value)}"
        for m in node.matchers.matchers
    )
    return f"{node.name or ''}{{{matchers}}}" if matchers or not node.name else node.name


def _vector_selectors(expr: str) -> Iterator[Any]:
    found: list[Any] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    yield from found


def selectors(expr: str) -> tuple[str, ...]:
    """Each series selector of ``expr`` as PromQL (no range, no offset), in order, once."""
    seen: dict[str, None] = {}
    for node in _vector_selectors(expr):
        seen.setdefault(_selector_text(node), None)
    return tuple(seen)


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects by name."""
    return {node.name for node in _vector_selectors(expr) if node.name}


def normalized(expr: str) -> str:
    """``expr`` printed canonically, to compare two spellings of the same PromQL."""
    return str(promql_parser.parse(expr))


def label_matchers(expr: str) -> list[tuple[str, str, str, str]]:
    """(selector, label, operator, value) of each label matcher of ``expr``'s selectors;
    none if promkit cannot parse it (the server's answer says why)."""
    try:
        nodes = list(_vector_selectors(expr))
    except Exception:  # promql-parser raises its own (untyped) errors
        return []
    return [
        (_selector_text(node), m.name, _OPERATORS[str(m.op).rpartition(".")[2]], m.value)
        for node in nodes
        for m in node.matchers.matchers
    ]
