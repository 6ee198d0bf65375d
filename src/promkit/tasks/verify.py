"""verify.*: prove through Prometheus' HTTP API that a deployment is right.

Exit codes: 0 every check passes, 1 some check failed, 2 promkit could not do
its job (unreachable, timeout, HTTP error, not Prometheus, bad settings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from promkit.tasks.common import reports_errors

if TYPE_CHECKING:
    from promkit.verify import Verification

HELP = {
    "url": "Prometheus base URL (default: setting prometheus.url)",
    "wait": "poll up to SECONDS until every check passes (while Prometheus starts)",
    "json": "also write a JSON report to PATH",
    "junit": "also write a JUnit XML report to PATH (one test case per check)",
}


def verify_and_report(
    c: Context,
    names: Sequence[str],
    *,
    url: str | None = None,
    wait: str | float | None = None,
    json_path: str | None = None,
    junit_path: str | None = None,
) -> Verification:
    """Run the named checks (see promkit.verify.NAMES), print the table, write the reports."""
    # Imported here so that `inv --list` stays fast.
    from promkit import prom, report, settings, verify
    from promkit import wait as waiting

    client = prom.client_from_settings(settings.section(c.config, "prometheus"), url)
    expect = settings.expectations(c.config)
    deadline = waiting.parse_wait(wait)
    guide = settings.repo_path(str(settings.section(c.config, "queries").get("guide") or ""))
    outcome = waiting.wait_until_green(
        lambda: verify.run_round(names, client, expect, guide), deadline
    )
    print(f"Prometheus {outcome.version} at {outcome.url}\n")
    print(report.table(outcome.results))
    found = (outcome.url, outcome.version, outcome.results)
    if json_path:
        print(f"JSON report: {report.write_json(json_path, *found)}")
    if junit_path:
        print(f"JUnit report: {report.write_junit(junit_path, *found)}")
    return outcome


def _run(
    c: Context,
    names: Sequence[str],
    url: str | None,
    wait: str | None,
    json: str | None,
    junit: str | None,
) -> None:
    outcome = verify_and_report(c, names, url=url, wait=wait, json_path=json, junit_path=junit)
    if not outcome.ok:
        raise Exit(code=1)


@task(help=HELP)
@reports_errors
def health(
    c: Context,
    url: str | None = None,
    wait: str | None = None,
    json: str | None = None,
    junit: str | None = None,
) -> None:
    """Check Prometheus runs and /-/healthy, /-/ready answer 200 within the latency budget."""
    _run(c, ["health"], url, wait, json, junit)


@task(help=HELP)
@reports_errors
def targets(
    c: Context,
    url: str | None = None,
    wait: str | None = None,
    json: str | None = None,
    junit: str | None = None,
) -> None:
    """Check every expected job has its targets, all UP, error-free and fast."""
    _run(c, ["targets"], url, wait, json, junit)


@task(help=HELP)
@reports_errors
def interval(
    c: Context,
    url: str | None = None,
    wait: str | None = None,
    json: str | None = None,
    junit: str | None = None,
) -> None:
    """Check the global scrape/evaluation intervals (15s) and that no job overrides them."""
    _run(c, ["interval"], url, wait, json, junit)


@task(help=HELP)
@reports_errors
def retention(
    c: Context,
    url: str | None = None,
    wait: str | None = None,
    json: str | None = None,
    junit: str | None = None,
) -> None:
    """Check the running server keeps data for the expected retention (30d)."""
    _run(c, ["retention"], url, wait, json, junit)


@task(help=HELP)
@reports_errors
def ui(
    c: Context,
    url: str | None = None,
    wait: str | None = None,
    json: str | None = None,
    junit: str | None = None,
) -> None:
    """Check the web UI answers with Prometheus' pages at its root and targets page."""
    _run(c, ["ui"], url, wait, json, junit)


@task(help=HELP)
@reports_errors
def queries(
    c: Context,
    url: str | None = None,
    wait: str | None = None,
    json: str | None = None,
    junit: str | None = None,
) -> None:
    """Run every sample query of the metrics guide and check each returns data."""
    _run(c, ["queries"], url, wait, json, junit)


@task(name="all", default=True, help=HELP)
@reports_errors
def all_checks(
    c: Context,
    url: str | None = None,
    wait: str | None = None,
    json: str | None = None,
    junit: str | None = None,
) -> None:
    """Run every verify check in one concurrent round, each mapped to its acceptance item."""
    from promkit.verify import NAMES

    _run(c, NAMES, url, wait, json, junit)


ns = Collection("verify", health, targets, interval, retention, ui, queries, all_checks)
