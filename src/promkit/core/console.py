"""The one place promkit writes progress and result lines to the terminal.

Domain modules say what they did through ``say`` (and what went wrong on the side
through ``warn``); nothing else prints (ruff's T20 rule holds every other module but the
presentation layer to that).
"""

from __future__ import annotations

import sys
from pathlib import Path


def say(line: str = "", *, end: str = "\n") -> None:
    """Write ``line`` and ``end`` to standard output, flushed.

    ``sys.stdout`` is looked up at each call, so whatever replaced it (pytest's capsys,
    a redirect) gets the line.
    """
    print(line, end=end, file=sys.stdout, flush=True)


def warn(line: str) -> None:
    """Write ``line`` and a newline to standard error, flushed (looked up at each call)."""
    print(line, file=sys.stderr, flush=True)


def kept_data_line(kept: str, them: str = "it") -> str:
    """The line a destroy prints about the Prometheus data it left in place."""
    return f"kept the Prometheus data{kept} (pass --volumes to delete {them})"


def shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
