"""Real Prometheus servers scraping real exporter processes, for the verify tests.

The Prometheus binary comes from ``PROMKIT_PROMETHEUS_BIN`` (default Debian's
``/usr/bin/prometheus``); when ``PROMKIT_PROMETHEUS3_BIN`` names a 3.x build,
every server-backed test runs against both. A missing binary fails the tests
with a clear message: they are never skipped. The processes themselves are
tests/support's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import tests.support as support
from tests.support import (
    ROOT,
    Completed,
    MissingBinary,
    PrometheusServer,
    config,
    env_without,
    free_port,
    inv,
    prometheus_binaries,
    scrape_config,
)


@pytest.fixture(scope="session", params=prometheus_binaries(), ids=lambda p: p[0])
def prometheus_bin(request: pytest.FixtureRequest) -> str:
    """The path of each Prometheus binary under test (2.x always, 3.x when configured)."""
    return str(request.param[1])


class Processes(support.Processes):
    """tests/support's Processes; a missing binary fails the test with one line."""

    def prometheus(
        self, binary: str, config: Mapping[str, Any], *, scraped: bool = False, **options: Any
    ) -> PrometheusServer:
        try:
            return super().prometheus(binary, config, scraped=scraped, **options)
        except MissingBinary as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def module_processes() -> Iterator[Processes]:
    """Processes shared by the tests of one module (a slow-to-warm server, say)."""
    processes = Processes()
    yield processes
    processes.stop_all()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Processes for one test."""
    processes = Processes()
    yield processes
    processes.stop_all()


class Helpers:
    """What the tests share, handed out by the ``it`` fixture (no imports from conftest)."""

    root = ROOT
    free_port = staticmethod(free_port)
    config = staticmethod(config)
    job = staticmethod(scrape_config)

    @staticmethod
    def env(**extra: str) -> dict[str, str]:
        """The environment for a promkit run: no stray credentials or INVOKE_ settings."""
        return env_without("PROMKIT_PROMETHEUS_", "INVOKE_", **extra)

    @classmethod
    def inv(
        cls, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
    ) -> Completed:
        """Run ``inv ARGS`` the way a user does, from the repository root."""
        return inv(*args, env=env if env is not None else cls.env(), timeout=timeout)

    @staticmethod
    def output(result: Completed) -> str:
        return result.output


@pytest.fixture(scope="session")
def it() -> type[Helpers]:
    """Helpers for integration tests: config builders, ``inv`` runner, free ports."""
    return Helpers
