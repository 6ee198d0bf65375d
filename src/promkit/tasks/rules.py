"""check.rules and check.rule-tests: the repo's rule files, offline (promkit.rules.lint)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from promkit.tasks.common import reports_errors


@task(help={"exposition": "the sample service's recorded metrics (sample_app/exposition.prom)"})
@reports_errors
def rules(c: Context, exposition: str | None = None) -> None:
    """Check the rule files: promtool, and every metric they select exists somewhere."""
    from promkit.rules import lint as rule_lint

    linted = rule_lint.check(c, c.config, exposition)
    print(
        f"{len(linted.files)} rule file(s), {linted.rule_count} rules: promtool accepts them "
        "and every metric they select is exposed, recorded or made by Prometheus"
    )


@task(help={"junit": "also write promtool's results as JUnit XML to this file (promtool 3.x)"})
@reports_errors
def rule_tests(c: Context, junit: str | None = None) -> None:
    """Run promtool's unit tests of the rules (tests/rules/*.test.yml)."""
    from promkit.rules import lint as rule_lint

    files = rule_lint.rule_tests(c, c.config, junit)
    print(
        f"promtool test rules: {len(files)} file(s) pass" + (f"; JUnit in {junit}" if junit else "")
    )


@task(
    help={
        "routes": "the routing table to test (default: tests/alerts/routes.yml)",
        "junit": "also write every row's result as JUnit XML to this file",
    }
)
@reports_errors
def alerts(c: Context, routes: str | None = None, junit: str | None = None) -> None:
    """Check the Alertmanager config (amtool) and test its routes (tests/alerts/routes.yml)."""
    from invoke.exceptions import Exit

    from promkit.rules import alerting

    checked = alerting.check(c, c.config, routes)
    if junit:
        alerting.write_junit(checked, junit)
    print("\n".join(alerting.report_lines(checked, junit)))
    if not checked.ok:
        raise Exit(code=1)
