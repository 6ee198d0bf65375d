"""What every task module shares: turning promkit's errors into one line and exit 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from promkit.errors import PromkitError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Make ``func`` exit with code 2 and one line, no traceback, on a PromkitError."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PromkitError as exc:
            raise Exit(f"promkit: {exc}", code=exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
