"""check.rules and check.rule-tests: the repo's rule files, before any server sees them.

``check.rules`` runs ``promtool check rules`` on every rule file the configs of
config/prometheus load, and looks up every metric a rule selects: it must be in the
sample service's recorded exposition (sample_app/exposition.prom), be recorded by
another rule of the repo, or be one Prometheus makes itself (``up``, ``ALERTS``...).
``check.rule-tests`` runs promtool's unit tests of the rules (tests/rules/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.context import Context

from promkit.core import promtool, runner
from promkit.core.errors import PromkitError, ValidationError, refuse_listed
from promkit.core.settings import checkout_path, load, repo_path
from promkit.rules import files as rules

#: The sample service's metrics as scraped once (tests/integration/test_exposition.py).
EXPOSITION = "sample_app/exposition.prom"
#: promtool's unit tests of the rules.
RULE_TESTS = "tests/rules"
_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


@dataclass(frozen=True)
class Linted:
    """What check.rules looked at, and every problem it found (one line each)."""

    files: list[Path]
    rule_count: int
    problems: list[str]


# --- the exposition ----------------------------------------------------------------------


def parse_exposition(text: str) -> dict[str, str]:
    """Sample name -> the type of its family (``# TYPE``), of a Prometheus text exposition."""
    found: dict[str, str] = {}
    family_type = "untyped"
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "#":
            if len(words) >= 4 and words[1] == "TYPE":
                family_type = words[3]
            continue
        found[line.split("{", 1)[0].split()[0]] = family_type
    return found


def load_exposition(path: Path) -> dict[str, str]:
    """The recorded exposition at ``path`` (see ``parse_exposition``)."""
    try:
        return parse_exposition(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PromkitError(f"cannot read the recorded exposition {path}: {exc}") from None


# --- the rule files ----------------------------------------------------------------------


def config_folder(config: Any) -> Path:
    """The Prometheus config folder (that of setting compose.prometheus_config)."""
    return repo_path(load(config).compose.prometheus_config).parent


def rule_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The rule files the folder's configs (prometheus*.yml) load, and a problem line for
    each file of its rules/ that none of them loads."""
    loaded = sorted(
        {
            path
            for config in folder.glob("prometheus*.yml")
            for path in rules.rule_file_paths(config)
        }
    )
    stray = [
        f"{path}: no config of {folder} loads it (check their rule_files)"
        for path in sorted((folder / "rules").glob("*"))
        if path.is_file() and path not in loaded
    ]
    return loaded, stray


def _hint(name: str, exposed: dict[str, str]) -> str:
    """Why ``name`` may be missing: a family name where only its samples are exposed."""
    samples = sorted(s for s in exposed if s.startswith(name) and s[len(name) :] in _SUFFIXES)
    if samples:
        return f"; the {exposed[samples[0]]} {name} is exposed as {', '.join(samples)}"
    return ""


def unknown_metrics(
    groups: tuple[rules.RuleGroup, ...], exposed: dict[str, str], source: Path
) -> list[str]:
    """A line ``file:line: RULE selects METRIC: ...`` for each metric found nowhere."""
    recorded = {rule.name for group in groups for rule in group.rules if rule.kind == "record"}
    known = set(exposed) | recorded | rules.SYNTHETIC_METRICS
    return [
        f"{group.file}:{rule.line}: {rule.kind} {rule.name} selects {name}, which is not in "
        f"the sample service's exposition ({source}), recorded by no rule and not made by "
        f"Prometheus{_hint(name, exposed)}"
        for group in groups
        for rule in group.rules
        for name in sorted(rules.metric_names(rule.expr) - known)
    ]


def promtool_rule_problems(c: Context, tool: str, files: list[Path]) -> list[str]:
    """``promtool check rules`` on ``files``: its error lines, if it fails."""
    if not files:
        return []
    done = runner.run(c, [tool, "check", "rules", *map(str, files)], check=False)
    if done.ok:
        return []
    errors = promtool.error_lines(done.stdout + "\n" + done.stderr)
    return [f"promtool check rules: {line}" for line in errors] or [
        f"promtool check rules failed (exit {done.exit_code}) without saying why"
    ]


def lint(c: Context, config: Any, exposition: str | None = None) -> Linted:
    """Load every rule file, run promtool on them and look up every metric they select."""
    folder = config_folder(config)
    files, problems = rule_files(folder)
    groups = tuple(group for path in files for group in rules.load_rule_file(path))
    problems += promtool_rule_problems(c, promtool.find(config), files)
    source = Path(exposition) if exposition else checkout_path(EXPOSITION, "inv check.rules")
    problems += unknown_metrics(groups, load_exposition(source), source)
    count = sum(len(group.rules) for group in groups)
    return Linted(files, count, problems)


def check(c: Context, config: Any, exposition: str | None = None) -> Linted:
    """``lint``, printing each problem on its own line; a ValidationError if there are any."""
    linted = lint(c, config, exposition)
    refuse_listed(linted.problems, "the rule files have", "inv check.rules")
    if not linted.files:
        raise ValidationError(
            f"no rule files found: no config of {config_folder(config)} loads one"
        )
    return linted


# --- promtool's unit tests ---------------------------------------------------------------


def rule_test_files() -> list[Path]:
    """tests/rules/*.test.yml of the checkout."""
    found = sorted(checkout_path(RULE_TESTS, "inv check.rule-tests").glob("*.test.yml"))
    if not found:
        raise ValidationError(f"no *.test.yml in {RULE_TESTS}: nothing to test the rules with")
    return found


def rule_tests(c: Context, config: Any, junit: str | None = None) -> list[Path]:
    """``promtool test rules`` on every test file (its output shown); a JUnit file if asked."""
    tool = promtool.find(config)
    files = rule_test_files()
    flags = []
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        flags = [f"--junit={junit}"]
    argv = [tool, "test", "rules", *flags, *map(str, files)]
    done = runner.run(c, argv, check=False, hide=False)
    if done.ok:
        return files
    if junit and "junit" in done.stderr.lower() and "unknown" in done.stderr.lower():
        raise PromkitError(
            f"{tool} cannot write JUnit (--junit is Prometheus 3.x's; this one is older): "
            "set k8s.promtool to a Prometheus 3 promtool (scripts/build-prometheus3.sh), or "
            "drop --junit"
        )
    raise ValidationError(
        f"promtool test rules failed (exit {done.exit_code}) for {', '.join(map(str, files))}: "
        "see its output above"
    )
