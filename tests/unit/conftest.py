"""Shared fixtures for unit tests (helpers live in tests/support/mockctx.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from invoke.context import MockContext

from promkit.local import images
from tests.support.mockctx import mock_context_factory


@pytest.fixture
def mock_context() -> Callable[..., MockContext]:
    """Build a MockContext answering commands that match regex keys (first match wins)."""
    return mock_context_factory()


@pytest.fixture
def prometheus_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-in prometheus and promtool files, named by PROMKIT_PROMETHEUS3_BIN."""
    folder = tmp_path / "prometheus-bin"
    folder.mkdir()
    for name in ("prometheus", "promtool"):
        (folder / name).write_text("#!/bin/sh\n")
    monkeypatch.setenv("PROMKIT_PROMETHEUS3_BIN", str(folder / "prometheus"))
    return folder


@pytest.fixture(autouse=True)
def _no_machine_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never see the checkout's compose/.env or a prebuilt Prometheus (CI's)."""

    monkeypatch.setattr(images, "COMPOSE_ENV", tmp_path / "unit-compose.env")
    monkeypatch.delenv(images.PROMETHEUS_BIN_ENV, raising=False)
