"""check.alerts: the repo's Alertmanager config, before any Alertmanager loads it.

``amtool check-config`` on config/alertmanager/alertmanager.yml; every receiver a route
names is declared; and each row of the routing table (tests/alerts/routes.yml: a label
set and the receivers it must reach) through ``amtool config routes test``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from invoke.context import Context

from promkit.core import runner
from promkit.core.errors import PromkitError, ValidationError
from promkit.core.settings import checkout_path, load, repo_path

#: The routing table check.alerts runs through amtool.
ROUTES = "tests/alerts/routes.yml"
#: Where .ci/run exports the amtool it built.
AMTOOL_ENV = "PROMKIT_AMTOOL_BIN"


class AmtoolMissing(PromkitError):
    """No amtool was found: not configured, not built, not on PATH."""


@dataclass(frozen=True)
class RouteCase:
    """One row of the routing table: a label set and the receivers it must reach, in order."""

    labels: Mapping[str, str]
    receivers: tuple[str, ...]

    @property
    def label_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))


@dataclass(frozen=True)
class RouteOutcome:
    """What amtool resolved a row to."""

    case: RouteCase
    got: tuple[str, ...]
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.got == self.case.receivers

    def line(self) -> str:
        want = ",".join(self.case.receivers)
        if self.error:
            return f"FAIL {self.case.label_text} -> amtool failed: {self.error}"
        if self.ok:
            return f"ok   {self.case.label_text} -> {want}"
        return f"FAIL {self.case.label_text} -> {','.join(self.got) or 'nothing'}, expected {want}"


@dataclass(frozen=True)
class AlertsChecked:
    """What check.alerts found: the config's problems and each row's outcome."""

    config: Path
    problems: list[str]
    outcomes: list[RouteOutcome]

    @property
    def ok(self) -> bool:
        return not self.problems and all(o.ok for o in self.outcomes)


def find_amtool(config: Any) -> str:
    """Setting alerts.amtool, else $PROMKIT_AMTOOL_BIN, else the newest build of
    scripts/build-alertmanager.sh, else amtool on PATH."""
    loaded = load(config)
    if loaded.alerts.amtool:
        return loaded.alerts.amtool
    if os.environ.get(AMTOOL_ENV):
        return os.environ[AMTOOL_ENV]
    builds = sorted(repo_path(loaded.images.cache_dir).glob("alertmanager-[0-9]*/amtool"))
    if builds:
        return str(builds[-1])
    found = shutil.which("amtool")
    if found:
        return found
    raise AmtoolMissing(
        f"amtool not found: set alerts.amtool or ${AMTOOL_ENV}, or build it with "
        "scripts/build-alertmanager.sh"
    )


def _yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read {what} {path}: {exc}") from None


def load_routes(path: Path) -> list[RouteCase]:
    """The routing table at ``path``: a list of ``{labels: {...}, receivers: [...]}``."""
    rows = _yaml(path, "the routing table")
    if not isinstance(rows, list) or not rows:
        raise ValidationError(f"{path}: expected a list of {{labels, receivers}} rows")
    cases = []
    for number, row in enumerate(rows, 1):
        labels = row.get("labels") if isinstance(row, dict) else None
        receivers = row.get("receivers") if isinstance(row, dict) else None
        if not isinstance(labels, dict) or not labels or not isinstance(receivers, list):
            raise ValidationError(
                f"{path} row {number}: needs labels (a mapping) and receivers (a list)"
            )
        cases.append(
            RouteCase({str(k): str(v) for k, v in labels.items()}, tuple(map(str, receivers)))
        )
    return cases


def _routes(route: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield route
    for child in route.get("routes") or []:
        if isinstance(child, Mapping):
            yield from _routes(child)


def undeclared_receivers(config: Mapping[str, Any]) -> list[str]:
    """A line for each receiver a route names that ``receivers`` does not declare."""
    declared = {r.get("name") for r in config.get("receivers") or [] if isinstance(r, Mapping)}
    route = config.get("route")
    if not isinstance(route, Mapping):
        return ["the config has no route"]
    return [
        f"a route names receiver {r['receiver']!r}, which receivers does not declare "
        f"(declared: {', '.join(sorted(map(str, declared)))})"
        for r in _routes(route)
        if r.get("receiver") and r["receiver"] not in declared
    ]


def amtool_config_problems(c: Context, tool: str, path: Path) -> list[str]:
    """``amtool check-config``: its output as problem lines, if it fails."""
    done = runner.run(c, [tool, "check-config", str(path)], check=False)
    if done.ok:
        return []
    lines = [x.strip() for x in (done.stdout + "\n" + done.stderr).splitlines() if x.strip()]
    return [f"amtool check-config: {line}" for line in lines if not line.startswith("Checking")]


def route_outcome(c: Context, tool: str, path: Path, case: RouteCase) -> RouteOutcome:
    """One row through ``amtool config routes test``."""
    labels = [f"{k}={v}" for k, v in sorted(case.labels.items())]
    argv = [tool, "config", "routes", "test", f"--config.file={path}", *labels]
    done = runner.run(c, argv, check=False)
    if not done.ok:
        return RouteOutcome(case, (), runner.last_line(done.stderr + "\n" + done.stdout))
    got = runner.last_line(done.stdout)
    return RouteOutcome(case, tuple(r for r in got.split(",") if r))


def check(c: Context, config: Any, routes: str | None = None) -> AlertsChecked:
    """Check the Alertmanager config and run every row of the routing table."""
    path = repo_path(load(config).alerts.config)
    tool = find_amtool(config)
    parsed = _yaml(path, "the Alertmanager config")
    if not isinstance(parsed, Mapping):
        raise ValidationError(f"{path}: not a YAML mapping")
    problems = amtool_config_problems(c, tool, path) + undeclared_receivers(parsed)
    table = Path(routes) if routes else checkout_path(ROUTES, "inv check.alerts")
    outcomes = [route_outcome(c, tool, path, case) for case in load_routes(table)]
    return AlertsChecked(path, problems, outcomes)


def junit_xml(checked: AlertsChecked) -> str:
    """The routing table (and the config check) as JUnit XML, one test case per row."""
    from xml.sax.saxutils import escape, quoteattr

    cases = [("config", "; ".join(checked.problems))]
    cases += [(o.case.label_text, "" if o.ok else o.line()) for o in checked.outcomes]
    failures = sum(1 for _, failure in cases if failure)
    body = "".join(
        f'  <testcase classname="check.alerts" name={quoteattr(name)}>'
        + (f"<failure message={quoteattr(failure)}>{escape(failure)}</failure>" if failure else "")
        + "</testcase>\n"
        for name, failure in cases
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="check.alerts" tests="{len(cases)}" failures="{failures}">\n'
        f"{body}</testsuite>\n"
    )


def write_junit(checked: AlertsChecked, path: str) -> None:
    """``junit_xml`` of ``checked`` written to ``path`` (its folder made)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(junit_xml(checked), encoding="utf-8")


def report_lines(checked: AlertsChecked, junit: str | None = None) -> list[str]:
    """One line per config problem and per row, then the summary."""
    passed = sum(o.ok for o in checked.outcomes)
    verdict = "REJECTED" if checked.problems else "accepted"
    summary = (
        f"{checked.config}: {verdict} by amtool; routes {passed}/{len(checked.outcomes)} "
        "as expected" + (f"; JUnit in {junit}" if junit else "")
    )
    problems = [f"FAIL {checked.config}: {problem}" for problem in checked.problems]
    return [*problems, *(o.line() for o in checked.outcomes), summary]
