"""Fixtures every suite may use (the suites' own live in their conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from invoke.context import MockContext

from tests.support.mockctx import mock_context_factory


@pytest.fixture
def mock_context() -> Callable[..., MockContext]:
    """Build a MockContext answering commands that match regex keys (first match wins)."""
    return mock_context_factory()


#: A test that takes longer than this says why (``@pytest.mark.slow(reason=...)``).
SLOW_S = 20.0
#: Suites slow by what they are (each test drives a whole compose stack or cluster): their
#: marker is their reason, and `nox -s tests` (where `-m 'not slow'` applies) has none of them.
SLOW_BY_SUITE = ("e2e", "e2e_k8s")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A slow marker without its reason is a usage error, before any test runs."""
    for item in items:
        marker = item.get_closest_marker("slow")
        if marker is not None and not marker.kwargs.get("reason"):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.slow needs reason='why it takes long'"
            )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name each test that took over SLOW_S seconds without a slow marker saying why."""
    unmarked = [
        report
        for report in terminalreporter.stats.get("passed", [])
        + terminalreporter.stats.get("failed", [])
        if report.when == "call"
        and report.duration > SLOW_S
        and not {"slow", *SLOW_BY_SUITE} & set(report.keywords)
    ]
    if unmarked:
        terminalreporter.section(f"slow tests without @pytest.mark.slow(reason=...) (>{SLOW_S:g}s)")
        for report in sorted(unmarked, key=lambda r: -r.duration):
            terminalreporter.write_line(f"{report.duration:6.1f}s {report.nodeid}")
