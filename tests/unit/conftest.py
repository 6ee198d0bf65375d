"""Shared fixtures for unit tests (helpers live in mockctx.py, importable by name)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from invoke.context import MockContext
from mockctx import mock_context_factory


@pytest.fixture
def mock_context() -> Callable[..., MockContext]:
    """Build a MockContext answering commands that match regex keys (first match wins)."""
    return mock_context_factory()
