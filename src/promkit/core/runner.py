"""The one way promkit runs external commands (docker, kubectl, promtool, ...).

Every command is an argv list, shown with ``shlex.join``: echoed when Invoke's
``--echo`` is on, printed instead of run under ``dry_run``, and turned into a
typed error carrying the command, its exit code and its output when it fails.
Commands go through the Invoke context so task tests can use ``MockContext``.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from invoke.context import Context
from invoke.exceptions import CommandTimedOut
from invoke.runners import Local

from promkit.core import console
from promkit.core.errors import PromkitError

#: Shell exit status for "command not found".
_NOT_FOUND = 127


class LargeReadsLocal(Local):
    """Invoke's local runner, reading a command's output in 64 KiB chunks instead of 1,000 bytes.

    With Invoke's default, capturing ``kubectl get pods -A -o json`` for 1,000 pods (about
    5 MB) cost seconds of Python per call; with 64 KiB, milliseconds (bench figure 8).
    promkit's task namespace configures it as ``runners.local``.
    """

    read_chunk_size = 65536

    def respond(self, buffer_: list[str]) -> None:
        # Invoke joins everything captured so far after every chunk, for watchers to scan:
        # quadratic in the output (~0.1 s of CPU for 1,000 pods). promkit passes none.
        if self.watchers:
            super().respond(buffer_)


@dataclass(frozen=True)
class Completed:
    """What a command did: its argv, exit code and captured output."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


class CommandNotFound(PromkitError):
    """The program is not installed or not on PATH."""

    def __init__(self, program: str) -> None:
        super().__init__(f"{program} not found on PATH: install it (see README.md) and try again")
        self.program = program


class CommandFailed(PromkitError):
    """A command exited non-zero."""

    def __init__(self, completed: Completed, what: str | None = None) -> None:
        detail = last_line(completed.stderr) or last_line(completed.stdout) or "no output"
        head = what or f"`{completed.command}` failed"
        super().__init__(f"{head} (exit {completed.exit_code}): {detail}")
        self.completed = completed


def last_line(text: str) -> str:
    """The last non-blank line of ``text``, stripped; empty if there is none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run(
    c: Context,
    argv: Sequence[str],
    *,
    dry_run: bool = False,
    check: bool = True,
    hide: bool | str = True,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    what: str | None = None,
) -> Completed:
    """Run ``argv`` through the Invoke context and return what it did.

    ``dry_run`` prints the command and runs nothing. ``check`` raises
    ``CommandFailed`` on a non-zero exit; ``hide=False`` streams the output to
    the terminal while still capturing it (``"err"`` streams standard output only).
    ``what`` names the step in errors.
    """
    argv = tuple(str(arg) for arg in argv)
    command = shlex.join(argv)
    if dry_run:
        console.say(f"[dry-run] {command}")
        return Completed(argv, 0)
    # Invoke turns echo off for hide=True; "both" hides the same streams and keeps --echo.
    hidden = "both" if hide is True else hide
    try:
        result = c.run(
            command, warn=True, hide=hidden, env=dict(env or {}), timeout=timeout, in_stream=False
        )
    except CommandTimedOut as exc:
        raise PromkitError(f"`{command}` did not finish within {exc.timeout:g}s") from None
    completed = Completed(argv, result.exited, result.stdout or "", result.stderr or "")
    if completed.exit_code == _NOT_FOUND and "not found" in completed.stderr:
        raise CommandNotFound(argv[0])
    if check and not completed.ok:
        raise CommandFailed(completed, what)
    return completed


def stop_process(process: subprocess.Popen[Any], grace: float) -> None:
    """Stop a background process promkit started, by its pid: TERM, KILL after ``grace`` s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)
