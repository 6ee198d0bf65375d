"""promkit's sessions: `nox` runs the defaults below (lint to bench_quick); `nox -l` lists all."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "package", "e2e", "e2e_k8s", "bench_quick"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

SAMPLE_APP_REQUIREMENTS = "sample_app/requirements.txt"
#: What scripts/check_package.py needs (sh and requests pinned as in the test extra).
PACKAGE_TOOLS = ("build==1.6.1",)
#: Where the tests session keeps promtool's results of the rule tests (reports/ is ignored).
RULE_TESTS_JUNIT = "reports/rule-tests.xml"
#: pytest-xdist workers for the tests session: the tests wait on scrapes far more than they
#: compute, so three per core keep 2 cores busy (measured: 142 integration tests in 4 min
#: with 6, 16 min one at a time).
TEST_WORKERS = 6


#: .ci/run's timing table: each session appends "nox, name, seconds, result" here when set.
TIMINGS_ENV = "PROMKIT_CI_TIMINGS"

SessionFunc = Callable[[nox.Session], None]


def _timed(func: SessionFunc) -> SessionFunc:
    """Append the session's wall time and result to $PROMKIT_CI_TIMINGS (CI's table)."""

    @functools.wraps(func)
    def run(session: nox.Session) -> None:
        start, result = time.monotonic(), "failed"
        try:
            func(session)
            result = "ok"
        finally:
            if path := os.environ.get(TIMINGS_ENV):
                seconds = round(time.monotonic() - start)
                with open(path, "a", encoding="utf-8") as table:
                    table.write(f"nox\t{session.name}\t{seconds}\t{result}\n")

    return run


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


@nox.session(default=False)
@_timed
def unit(session: nox.Session) -> None:
    """The unit tests alone: the loop to run while working (`nox -s unit -- -k NAME`)."""
    _install(session, "test")
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    session.run("pytest", "tests/unit", *(session.posargs or ["-q"]))


@nox.session
@_timed
def lint(session: nox.Session) -> None:
    """Ruff, mypy --strict, lint-imports, check.manifests (schemas, promtool, hardening), rules."""
    # mypy reads bench/, tests/support and scripts/ too: they import sh and the sample
    # app's prometheus_client, so the test extras and the app's requirements come along.
    _install(session, "lint", "test")
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")
    session.run("inv", "check.manifests")
    session.run("inv", "check.rules")
    session.run("inv", "check.alerts")


@nox.session
@_timed
def tests(session: nox.Session) -> None:
    """Unit and integration tests (real Prometheus, Redis, sample app), then the rule tests."""
    # promtool's unit tests of the rules; their JUnit lands beside the other reports.
    _install(session, "test")
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    # The integration tests mostly wait on real servers' scrapes: they run in parallel, each
    # with ports and folders of its own (pytest-xdist). The 25 slowest tests are listed, so
    # a test that grows slow shows in CI's output.
    parallel = ["-n", str(TEST_WORKERS), "--dist", "load"]
    session.run(
        "pytest", "tests/unit", "tests/integration", *parallel, "--durations=25", *session.posargs
    )
    session.run("inv", "check.rule-tests", "--junit", RULE_TESTS_JUNIT)


@nox.session
@_timed
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, install the wheel outside the repo, run `promkit` from there."""
    # The check's own venv gets promkit from the wheel only; this one runs the check with
    # the tests' support package (its real-Prometheus launcher), so it has the test extras.
    session.install(*PACKAGE_TOOLS)
    _install(session, "test")
    session.run("python", "scripts/check_package.py", *session.posargs, env={"PYTHONPATH": "."})


@nox.session
@_timed
def e2e(session: nox.Session) -> None:
    """`inv deploy.local verify.all` on a fresh checkout, faults and security, on Docker.

    No `images.build` first: deploy.local gets the images it lacks, as on a first run. The
    first run's evidence report (`verify.all --report`) is kept in reports/e2e-first-run/.
    """
    _install(session, "test")
    report = Path("reports/e2e-first-run").resolve()
    session.run("pytest", "tests/e2e", *session.posargs, env={"PROMKIT_E2E_REPORT": str(report)})


@nox.session
@_timed
def e2e_k8s(session: nox.Session) -> None:
    """deploy.k8s -> verify.* --context -> destroy.k8s on a throwaway cluster with a real node."""
    _install(session, "test")
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    session.run("pytest", "-m", "e2e_k8s", "tests/e2e_k8s", *session.posargs)


def _bench(session: nox.Session, *args: str) -> None:
    _install(session, "test")  # figure 7 starts the e2e_k8s harness' cluster (sh, requests)
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    session.run("python", "-m", "bench", *args, *session.posargs)


@nox.session(default=False)
@_timed
def bench(session: nox.Session) -> None:
    """Print the benchmark figures (docs/performance.md); e.g. `nox -s bench -- --only 1,4`."""
    _bench(session)


@nox.session
@_timed
def bench_quick(session: nox.Session) -> None:
    """Every benchmark figure once at small sizes, in 3 lanes side by side: fails only if a
    figure errors, never on its value (`python -m bench --quick --lanes 3`)."""
    _bench(session, "--quick", "--lanes", "3")


@nox.session(default=False)
@_timed
def mutation(session: nox.Session) -> None:
    """mutmut over the pure judges, then each module's score (fails under 90%; docs/testing.md).

    CPU heavy (some 3,500 mutants): on a shared machine run it under the heavy lock, one
    module at a time, e.g. `nox -s mutation -- "promkit.verify.drift.*"`.
    """
    _install(session, "test", "mutation")
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    env = {"PROMKIT_MUTATION": "1"}  # the Hypothesis properties: fewer, fixed examples
    session.run("mutmut", "run", "--max-children", "2", *session.posargs, env=env)
    session.run("python", "scripts/mutation_report.py")
