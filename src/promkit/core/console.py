"""The one place promkit writes progress and result lines to the terminal.

Domain modules say what they did through ``say``; nothing else prints (ruff's T20
rule holds every other module but the presentation layer to that).
"""

from __future__ import annotations

from pathlib import Path


def kept_data_line(kept: str, them: str = "it") -> str:
    """The line a destroy prints about the Prometheus data it left in place."""
    return f"kept the Prometheus data{kept} (pass --volumes to delete {them})"


def shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
