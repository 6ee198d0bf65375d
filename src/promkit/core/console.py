"""The one place promkit writes progress and result lines to the terminal.

Domain modules say what they did through ``say`` (and what went wrong on the side
through ``warn``); nothing else prints (ruff's T20 rule holds every other module but the
presentation layer to that).
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import NoReturn

#: The exit code of a command whose reader went away (``promkit --list | head -1``):
#: 128 + SIGPIPE, what a shell reports for a C tool that SIGPIPE ended.
CLOSED_PIPE_EXIT = 141


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


def _stdout_to_devnull() -> None:
    """Point standard output at /dev/null, so a later flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def closed_pipe_exit() -> NoReturn:
    """End quietly because standard output's reader went away, with ``CLOSED_PIPE_EXIT``.

    Python's recipe (the signal module's note on SIGPIPE): point stdout at /dev/null so
    the flush at exit cannot fail again and print a second traceback. Not SIG_DFL for
    SIGPIPE: that would also kill promkit when a socket to Prometheus breaks.
    """
    _stdout_to_devnull()
    sys.exit(CLOSED_PIPE_EXIT)


def _exit_quietly_on_closed_pipe() -> NoReturn:
    """Leave at once (hooks run outside any try) with ``CLOSED_PIPE_EXIT``."""
    _stdout_to_devnull()
    sys.stderr.flush()
    os._exit(CLOSED_PIPE_EXIT)


def quiet_on_closed_pipe() -> None:
    """Make a BrokenPipeError that ends the program (``inv --list | head -1``) end quietly.

    For ``inv``, whose main loop is Invoke's: tasks.py installs this hook on
    ``sys.excepthook`` (Python's documented hook), leaving every other exception to
    the hook that was there.
    """
    previous = sys.excepthook

    def flush_at_exit() -> None:
        # Without PYTHONUNBUFFERED the listing may still sit in stdout's buffer when
        # Invoke returns: the interpreter's own flush would fail after every hook ran
        # ("Exception ignored ... BrokenPipeError", exit 120). Flush here, first.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _exit_quietly_on_closed_pipe()

    def hook(kind: type[BaseException], exc: BaseException, tb: object) -> None:
        if issubclass(kind, BrokenPipeError):
            _exit_quietly_on_closed_pipe()
        previous(kind, exc, tb)  # type: ignore[arg-type]

    atexit.register(flush_at_exit)
    sys.excepthook = hook
