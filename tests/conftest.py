"""Fixtures every suite may use (the suites' own live in their conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from invoke.context import MockContext

from tests.support.mockctx import mock_context_factory


@pytest.fixture
def mock_context() -> Callable[..., MockContext]:
    """Build a MockContext answering commands that match regex keys (first match wins)."""
    return mock_context_factory()
