"""What the server runs that the repo does not say: config, flags, rules, the last reload.

Pure functions over the repo's rendered view (``RepoView``) and the server's answers
(``ServerView``), each returning one line per difference, named by its key path:
``scrape_configs[fastapi-app].scrape_timeout: repo 10s, server 5s``. Prometheus serves
its config with every default filled in, so only what the repo sets is compared;
durations compare as durations (``1m`` is ``60s``), sizes as sizes, PromQL by syntax.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from promkit.core import durations
from promkit.core.errors import ValidationError
from promkit.rules.files import Rule, RuleGroup, normalized
from promkit.verify.result import UnexpectedPayload

#: What Prometheus serves in place of a secret: its value cannot be compared.
SECRET = "<secret>"
#: Lists of named things, matched by that name instead of by position.
_NAMED_LISTS = {"scrape_configs": "job_name"}
_SIZE = re.compile(r"^(\d+)(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB|PB|PiB|EB|EiB)$")
_SIZE_POWERS: dict[str, int] = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_RULE_KINDS = {"recording": "record", "alerting": "alert"}
#: Global settings every scrape job takes unless it sets its own (in every Prometheus 2.x/3.x).
_INHERITED = ("scrape_interval", "scrape_timeout")


@dataclass(frozen=True)
class RepoView:
    """What the repo deploys: the config the server gets, its flags, its rule files."""

    config: Mapping[str, Any]
    #: The command-line arguments the repo passes (compose command, Deployment args).
    args: tuple[str, ...]
    groups: tuple[RuleGroup, ...]
    #: The repo files (or rendered objects) this view was read from, for the verdict.
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ServerView:
    """What the server answered: its config (parsed), flags, rules and runtime info."""

    config: Mapping[str, Any]
    flags: Mapping[str, Any]
    rules: Any
    runtimeinfo: Any


# --- values ------------------------------------------------------------------------------


def show(value: Any) -> str:
    """``value`` as the lines print it: plain strings, flow lists, JSON for the rest."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _size_bytes(text: str) -> int | None:
    match = _SIZE.match(text)
    if not match:
        return None
    # Prometheus reads sizes in base 2 whichever spelling: 1KB is 1024 bytes, as 1KiB.
    power = _SIZE_POWERS[str(match.group(2))[0]]
    return int(match.group(1)) << (10 * power)


def _as_seconds(text: str) -> float | None:
    try:
        return durations.parse_duration(text)
    except ValueError:
        return None


def same_value(repo: Any, served: Any, config_dir: str = "") -> bool:
    """Whether a value the repo sets is what the server runs, read as Prometheus reads it.

    Durations compare as durations, sizes as sizes, ``8000`` as ``"8000"``; a relative
    path equals the absolute one Prometheus made of it in ``config_dir``; a secret
    the server hides is taken as equal (it cannot be compared).
    """
    if repo == served or served == SECRET:
        return True
    if isinstance(repo, list | Mapping) or isinstance(served, list | Mapping):
        return False
    left, right = show(repo), show(served)
    if left == right:
        return True
    for read in (_as_seconds, _size_bytes):
        a, b = read(left), read(right)
        if a is not None and b is not None:
            return a == b
    joined = posixpath.normpath(posixpath.join(config_dir, left)) if config_dir else ""
    return bool(joined) and not posixpath.isabs(left) and joined == right


# --- the config --------------------------------------------------------------------------


def _changed(path: str, repo: Any, served: Any) -> str:
    return f"{path}: repo {show(repo)}, server {show(served)}"


def _compare(path: str, repo: Any, served: Any, config_dir: str) -> Iterator[str]:
    if repo is None:
        return  # an empty key sets nothing: the server's default is whatever it is
    if isinstance(repo, Mapping):
        yield from _compare_mapping(path, repo, served, config_dir)
    elif isinstance(repo, list) and any(isinstance(item, Mapping) for item in repo):
        if not isinstance(served, list):
            yield _changed(path, repo, served)
        elif path.rpartition(".")[2] in _NAMED_LISTS:
            yield from _compare_named(path, repo, served, config_dir)
        else:
            yield from _compare_indexed(path, repo, served, config_dir)
    elif isinstance(repo, list):
        if not (
            isinstance(served, list)
            and len(served) == len(repo)
            # by index, not zip(strict=True): the lengths are equal here, so strict could
            # never matter (an equivalent mutant in docs/testing.md's run).
            and all(same_value(repo[i], served[i], config_dir) for i in range(len(repo)))
        ):
            yield _changed(path, repo, served)
    elif not same_value(repo, served, config_dir):
        yield _changed(path, repo, served)


def _compare_mapping(
    path: str, repo: Mapping[str, Any], served: Any, config_dir: str
) -> Iterator[str]:
    if not isinstance(served, Mapping):
        yield _changed(path, dict(repo), served)
        return
    for key, value in repo.items():
        where = f"{path}.{key}" if path else str(key)
        if value is not None and key not in served:
            yield f"{where}: repo {show(value)}, server lacks it"
        else:
            yield from _compare(where, value, served.get(key), config_dir)


def _by_name(items: Sequence[Any], key: str) -> dict[str, Any]:
    return {str(item.get(key)): item for item in items if isinstance(item, Mapping)}


def _compare_named(
    path: str, repo: Sequence[Any], served: Sequence[Any], config_dir: str
) -> Iterator[str]:
    key = _NAMED_LISTS[path.rpartition(".")[2]]
    mine, theirs = _by_name(repo, key), _by_name(served, key)
    for name, item in mine.items():
        if name in theirs:
            yield from _compare(f"{path}[{name}]", item, theirs[name], config_dir)
        else:
            yield f"{path}[{name}]: only in the repo"
    for name in theirs:
        if name not in mine:
            yield f"{path}[{name}]: only on the server"


def _compare_indexed(
    path: str, repo: Sequence[Any], served: Sequence[Any], config_dir: str
) -> Iterator[str]:
    for index, item in enumerate(repo):
        where = f"{path}[{index}]"
        if index < len(served):
            yield from _compare(where, item, served[index], config_dir)
        else:
            yield f"{where}: only in the repo: {show(item)}"
    for index in range(len(repo), len(served)):
        yield f"{path}[{index}]: only on the server: {show(served[index])}"


def config_differences(
    repo: Mapping[str, Any], served: Mapping[str, Any], config_dir: str = ""
) -> list[str]:
    """Every key the repo's config sets that the served config has otherwise, by key path.

    ``config_dir`` is the server's config folder, against which Prometheus made the
    repo's relative paths (rule_files, credentials files) absolute.
    """
    return list(_compare("", with_inherited(repo, served), served, config_dir))


def _global(config: Mapping[str, Any]) -> Mapping[str, Any]:
    found = config.get("global")
    return found if isinstance(found, Mapping) else {}


def with_inherited(config: Mapping[str, Any], served: Mapping[str, Any]) -> Mapping[str, Any]:
    """``config`` with the global interval and timeout on each job that sets none, where the
    served job has its own (one the server's global does not explain).

    Prometheus' jobs take these from ``global``: a job the server scrapes on another
    timeout is named though the repo's job sets none, and a changed global is named
    once, not again for every job that inherits it.
    """
    inherited = {k: v for k, v in _global(config).items() if k in _INHERITED and v is not None}
    jobs, served_jobs = config.get("scrape_configs"), served.get("scrape_configs")
    if not inherited or not isinstance(jobs, list) or not isinstance(served_jobs, list):
        return config
    theirs, served_global = _by_name(served_jobs, "job_name"), _global(served)

    def fill(job: Any) -> Any:
        other = theirs.get(str(job.get("job_name"))) if isinstance(job, Mapping) else None
        if other is None:
            return job
        own = {
            key: value
            for key, value in inherited.items()
            if key not in job
            and key in other
            and not same_value(other[key], served_global.get(key))
        }
        return {**job, **own}

    return {**config, "scrape_configs": [fill(job) for job in jobs]}


# --- flags -------------------------------------------------------------------------------


def parse_args(args: Sequence[str]) -> dict[str, str]:
    """Flag name -> value of a Prometheus command line (``--name=value``, ``--name value``,
    ``--name`` for true, ``--no-name`` for false); words that are no flag are left out."""
    flags: dict[str, str] = {}
    words = list(args)
    for index, word in enumerate(words):
        if not word.startswith("--") or word == "--":
            continue
        name, equals, value = word[2:].partition("=")
        following = words[index + 1] if index + 1 < len(words) else "--"
        if equals:
            flags[name] = value
        elif name.startswith("no-"):  # only a boolean flag has a --no- form
            flags[name.removeprefix("no-")] = "false"
        elif not following.startswith("-"):
            flags[name] = following
        else:
            flags[name] = "true"
    return flags


def flag_differences(repo_args: Sequence[str], served: Mapping[str, Any]) -> list[str]:
    """Each flag the repo passes that the server runs with another value (or not at all)."""
    lines = []
    for name, value in parse_args(repo_args).items():
        if name not in served:
            lines.append(f"--{name}: repo {value}, server lacks it (no such flag)")
        elif not same_value(value, served[name]):
            lines.append(_changed(f"--{name}", value, served[name]))
    return lines


# --- rules -------------------------------------------------------------------------------


def _served_groups(data: Any) -> list[Mapping[str, Any]]:
    groups = data.get("groups") if isinstance(data, Mapping) else None
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) for g in groups):
        raise UnexpectedPayload("/api/v1/rules has no list of groups in data.groups")
    return groups


def _keyed_rules(rules: Sequence[tuple[str, str, Any]]) -> dict[str, Any]:
    """``kind[name]`` -> rule; a name repeated in one group gets ``#2``, ``#3``..."""
    keyed: dict[str, Any] = {}
    for kind, name, rule in rules:
        key, count = f"{kind}[{name}]", 1
        while key in keyed:
            count += 1
            key = f"{kind}[{name}]#{count}"
        keyed[key] = rule
    return keyed


def _expr_text(expr: str) -> str:
    return " ".join(expr.split())


def _same_expr(repo: str, served: str) -> bool:
    try:
        return normalized(repo) == normalized(served)
    except ValueError:  # the server's spelling does not parse here: compare the text
        return _expr_text(repo) == _expr_text(served)


def _seconds(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _repo_seconds(value: str, where: str) -> float:
    """Seconds in a duration of the repo's rule files; a ValidationError naming ``where``."""
    seconds = _as_seconds(value)
    if seconds is None:
        raise ValidationError(f"{where}: {value!r} is not a duration (examples: 15s, 1m, 2h)")
    return seconds


def _label_differences(where: str, repo: Mapping[str, str], served: Any) -> Iterator[str]:
    theirs = served if isinstance(served, Mapping) else {}
    for key in sorted(repo.keys() | theirs.keys()):
        if key not in theirs:
            yield f"{where}.labels.{key}: repo {repo[key]}, server lacks it"
        elif key not in repo:
            yield f"{where}.labels.{key}: repo lacks it, server {show(theirs[key])}"
        elif repo[key] != str(theirs[key]):
            yield _changed(f"{where}.labels.{key}", repo[key], theirs[key])


def _rule_differences(
    where: str, repo: Rule, served: Mapping[str, Any], file: str
) -> Iterator[str]:
    query = str(served.get("query", ""))
    if not _same_expr(repo.expr, query):
        yield _changed(f"{where}.expr", _expr_text(repo.expr), query)
    if repo.kind == "alert":
        at = f"rule file {file}:{repo.line}: {repo.name}'s for"
        wanted = _repo_seconds(repo.duration, at) if repo.duration else 0.0
        running = _seconds(served.get("duration"))
        if wanted != running:
            shown = durations.format_duration(running)
            yield _changed(f"{where}.for", repo.duration or "0s", shown)
    yield from _label_differences(where, repo.labels, served.get("labels"))


def _group_differences(
    group: RuleGroup, served: Mapping[str, Any], evaluation: tuple[str | None, str | None]
) -> Iterator[str]:
    where = f"groups[{group.name}]"
    running = _seconds(served.get("interval"))
    interval = group.interval
    inherited, served_default = evaluation
    if interval is None and not (served_default and same_value(served_default, f"{running:g}s")):
        interval = inherited  # the server's group has an interval of its own
    at = f"the interval of rule group {group.name} ({group.file})"
    if interval is not None and _repo_seconds(interval, at) != running:
        yield _changed(f"{where}.interval", interval, durations.format_duration(running))
    mine = _keyed_rules([(r.kind, r.name, r) for r in group.rules])
    rules = [r for r in served.get("rules") or [] if isinstance(r, Mapping)]
    theirs = _keyed_rules([_served_rule(rule) for rule in rules])
    for key, rule in mine.items():
        if key in theirs:
            yield from _rule_differences(f"{where}.{key}", rule, theirs[key], str(group.file))
        else:
            yield f"{where}.{key}: only in the repo ({group.file}:{rule.line})"
    for key, extra in theirs.items():
        if key not in mine:
            yield f"{where}.{key}: only on the server: {extra.get('query', '')}"


def _served_rule(rule: Mapping[str, Any]) -> tuple[str, str, Any]:
    """(kind, name, rule) of a served rule: ``recording`` is ``record``, as in rule files."""
    kind = str(rule.get("type"))
    return _RULE_KINDS.get(kind, kind), str(rule.get("name")), rule


def rule_differences(
    repo: Sequence[RuleGroup],
    served: Any,
    evaluation: tuple[str | None, str | None] = (None, None),
) -> list[str]:
    """Each rule group, rule, expr, ``for``, label and interval that differs.

    ``served`` is the data of /api/v1/rules; ``evaluation`` the repo's and the server's
    global evaluation_interval, which a group without an interval of its own takes.
    """
    theirs = {str(group.get("name")): group for group in _served_groups(served)}
    lines: list[str] = []
    for group in repo:
        found = theirs.pop(group.name, None)
        if found is None:
            lines.append(f"groups[{group.name}]: only in the repo ({group.file})")
        else:
            lines += _group_differences(group, found, evaluation)
    for name, extra in theirs.items():
        lines.append(f"groups[{name}]: only on the server ({extra.get('file', '?')})")
    return lines


# --- the last reload and all of it -------------------------------------------------------


def reload_differences(runtimeinfo: Any) -> list[str]:
    """A failed last reload: the server kept an older config than its files say."""
    info = runtimeinfo if isinstance(runtimeinfo, Mapping) else {}
    if info.get("reloadConfigSuccess") is not False:
        return []
    # lastConfigTime only moves on a successful load: it dates the config still running.
    loaded = info.get("lastConfigTime") or "an unknown time"
    return [
        "the last reload failed: the server runs an older config "
        f"(its last successful load was at {loaded})"
    ]


def _evaluation_interval(config: Mapping[str, Any]) -> str | None:
    value = _global(config).get("evaluation_interval")
    return str(value) if value is not None else None


def differences(repo: RepoView, server: ServerView) -> list[str]:
    """Every difference between what the repo deploys and what the server runs, one line
    each: the last reload first, then flags, config and rules."""
    config_file = str(server.flags.get("config.file") or "")
    config_dir = posixpath.dirname(config_file) if posixpath.isabs(config_file) else ""
    evaluation = (_evaluation_interval(repo.config), _evaluation_interval(server.config))
    return [
        *reload_differences(server.runtimeinfo),
        *flag_differences(repo.args, server.flags),
        *config_differences(repo.config, server.config, config_dir),
        *rule_differences(repo.groups, server.rules, evaluation),
    ]


def verdict(repo: RepoView, found: Sequence[str]) -> str:
    """The lines to print: each difference, or ``server matches`` and what was compared."""
    if found:
        return "\n".join(found)
    return "server matches " + ", ".join(repo.sources)


def parse_config_text(where: str, text: str) -> Mapping[str, Any]:
    """A Prometheus config's text as a mapping; a ValidationError naming ``where``."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"Prometheus config {where} is not YAML: {exc}") from None
    if not isinstance(config, Mapping):
        raise ValidationError(f"Prometheus config {where} is not a mapping of settings")
    return config


def alertmanager_differences(where: str, repo_text: str, served_text: str, url: str) -> list[str]:
    """The Alertmanager config at ``url`` (``served_text``: /api/v2/status config.original,
    with every default filled in and secrets such as webhook URLs hidden) against the repo's
    file ``where``, key path by key path: as for Prometheus, only what the repo sets."""
    trees = []
    for text, whose in ((repo_text, where), (served_text, f"Alertmanager at {url}")):
        try:
            trees.append(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            return [f"{where}: not compared, the config of {whose} is not YAML: {exc}"]
    return [f"{where} {line}" for line in _compare("", trees[0], trees[1], "")]
