"""promkit's sessions: `nox` runs lint, tests and e2e; `nox -l` lists them all."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "package", "e2e", "e2e_k8s"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

SAMPLE_APP_REQUIREMENTS = "sample_app/requirements.txt"
#: What scripts/check_package.py needs (sh and requests pinned as in the test extra).
PACKAGE_TOOLS = ("build==1.6.1",)
#: Where the tests session keeps promtool's results of the rule tests (reports/ is ignored).
RULE_TESTS_JUNIT = "reports/rule-tests.xml"


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


@nox.session(default=False)
def unit(session: nox.Session) -> None:
    """The unit tests alone: the loop to run while working (`nox -s unit -- -k NAME`)."""
    _install(session, "test")
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    session.run("pytest", "tests/unit", *(session.posargs or ["-q"]))


@nox.session
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


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (real Prometheus, Redis, sample app), then the rule tests."""
    # promtool's unit tests of the rules; their JUnit lands beside the other reports.
    _install(session, "test")
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    # The 25 slowest tests are listed, so a test that grows slow shows in CI's output.
    session.run("pytest", "tests/unit", "tests/integration", "--durations=25", *session.posargs)
    session.run("inv", "check.rule-tests", "--junit", RULE_TESTS_JUNIT)


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, install the wheel outside the repo, run `promkit` from there."""
    # The check's own venv gets promkit from the wheel only; this one runs the check with
    # the tests' support package (its real-Prometheus launcher), so it has the test extras.
    session.install(*PACKAGE_TOOLS)
    _install(session, "test")
    session.run("python", "scripts/check_package.py", *session.posargs, env={"PYTHONPATH": "."})


@nox.session
def e2e(session: nox.Session) -> None:
    """`inv deploy.local verify.all` on a fresh checkout, faults and security, on Docker.

    No `images.build` first: deploy.local gets the images it lacks, as on a first run. The
    first run's evidence report (`verify.all --report`) is kept in reports/e2e-first-run/.
    """
    _install(session, "test")
    report = Path("reports/e2e-first-run").resolve()
    session.run("pytest", "tests/e2e", *session.posargs, env={"PROMKIT_E2E_REPORT": str(report)})


@nox.session
def e2e_k8s(session: nox.Session) -> None:
    """deploy.k8s -> verify.* --context -> destroy.k8s on a throwaway cluster with a real node."""
    _install(session, "test")
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    session.run("pytest", "-m", "e2e_k8s", "tests/e2e_k8s", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Print the benchmark figures (docs/performance.md); e.g. `nox -s bench -- --only 1,4`."""
    _install(session, "test")  # figure 7 starts the e2e_k8s harness' cluster (sh, requests)
    session.install("-r", SAMPLE_APP_REQUIREMENTS)
    session.run("python", "-m", "bench", *session.posargs)
