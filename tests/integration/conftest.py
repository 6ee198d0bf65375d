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

from tests.support import (
    ROOT,
    Completed,
    Exporter,
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


class Processes:
    """Starts exporters and Prometheus servers; stops all of them at the end of the scope."""

    def __init__(self) -> None:
        self.started: list[Exporter | PrometheusServer] = []

    def exporter(self, kind: str = "plain", delay: float = 0.0, port: int = 0) -> Exporter:
        exporter = Exporter(kind, delay, port)
        self.started.append(exporter)
        return exporter

    def prometheus(
        self, binary: str, config: Mapping[str, Any], *, scraped: bool = False, **options: Any
    ) -> PrometheusServer:
        """A ready server; with ``scraped``, also wait until each target was scraped once."""
        server = PrometheusServer(binary, config, **options)
        self.started.append(server)
        try:
            server.start()
        except MissingBinary as exc:
            pytest.fail(str(exc), pytrace=False)
        if scraped:
            server.wait_scraped()
        return server

    def stop_all(self) -> None:
        for thing in reversed(self.started):
            thing.stop()
        self.started.clear()


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
