"""What every task module shares: turning promkit's errors into one line and exit 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from invoke.exceptions import Exit

from promkit.core import settings
from promkit.core.errors import PromkitError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Make ``func`` exit with code 2 and one line, no traceback, on a PromkitError.

    Every setting is checked first (``settings.load``), so a bad value anywhere is that
    line before the task touches anything.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if args and hasattr(args[0], "config"):
                settings.load(args[0].config)
            return func(*args, **kwargs)
        except PromkitError as exc:
            raise Exit(f"promkit: {exc}", code=exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def context_on_command_line(argv: Sequence[str] | None = None) -> str | None:
    """The ``--context`` a later task got on the same command line, if exactly one was given.

    Invoke hands a flag to the task it follows, so in ``inv deploy.k8s verify.all
    --context X`` only verify.all receives X. The user did name the context
    explicitly, so deploy.k8s may use it; two different values count as none.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    found = set()
    for i, word in enumerate(words):
        if word == "--context" and i + 1 < len(words):
            found.add(words[i + 1])
        elif word.startswith("--context="):
            found.add(word.split("=", 1)[1])
    return found.pop() if len(found) == 1 else None
