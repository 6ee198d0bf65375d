"""Running real programs from tests and figures, through sh.

``run``/``inv`` run a command to its end and hand back its exit code and output;
``Background`` keeps a long-running one (a server, a daemon) with its output in a log
file, in a session of its own, and stops it by its pid: TERM, KILL after a grace
period, then whatever is left of its process group and its descendants.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil
import sh

ROOT = Path(__file__).resolve().parents[2]
#: Exit codes sh must not raise for: any status, and death by any signal (it is ours).
ANY_EXIT = tuple(range(-64, 256))


@dataclass(frozen=True)
class Completed:
    """A finished command: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _completed(done: Any) -> Completed:
    """A finished sh command as a Completed."""
    decode: Callable[[bytes], str] = lambda raw: raw.decode(errors="replace")  # noqa: E731
    return Completed(int(done.exit_code), decode(done.stdout), decode(done.stderr))


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 300.0,
    check: bool = False,
) -> Completed:
    """Run ``argv`` to its end (killed after ``timeout`` seconds); with ``check``, a
    non-zero exit is an AssertionError showing the output."""
    done = sh.Command(str(argv[0]))(
        *[str(arg) for arg in argv[1:]],
        _cwd=str(cwd) if cwd else None,
        _env=dict(env) if env is not None else None,
        _in=stdin,
        _timeout=timeout,
        _tty_out=False,
        _ok_code=ANY_EXIT,
        _return_cmd=True,
    )
    result = _completed(done)
    if check:
        assert result.returncode == 0, f"`{' '.join(map(str, argv))}` failed:\n{result.output}"
    return result


def inv_argv(*args: str) -> list[str]:
    """``inv ARGS`` as a user runs it, with this interpreter (the tests' environment)."""
    return [sys.executable, "-m", "invoke", *args]


def inv(
    *args: str,
    cwd: Path | str = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 180.0,
) -> Completed:
    """Run ``inv ARGS`` from the repository root (or ``cwd``), as a user does."""
    return run(inv_argv(*args), cwd=cwd, env=env, timeout=timeout)


def env_without(*prefixes: str, **extra: str) -> dict[str, str]:
    """This process's environment less the variables starting with ``prefixes``, plus
    ``extra``: a run that no stray setting or credential of the caller's reaches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def stop_processes(processes: Sequence[Any], grace: float) -> None:
    """TERM ``processes`` (psutil), KILL those still there after ``grace`` seconds."""
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def descendants(pid: int) -> list[Any]:
    """The processes below ``pid`` (psutil), none if it is gone."""
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


class Background:
    """A long-running program, its stdout (and stderr, unless ``err_log``) in ``log``."""

    def __init__(
        self,
        argv: Sequence[str | Path],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        err_log: Path | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.argv, self.log_path, self.err_path = [str(a) for a in argv], log, err_log
        self.env, self.cwd, self.preexec_fn = env, cwd, preexec_fn
        self._command: Any = None
        self._files: list[IO[bytes]] = []
        #: Reaped: its pid may belong to another process by now, never signal it again.
        self._reaped = False

    def start(self) -> Background:
        """Start it in a session of its own (its pid is its process group)."""
        out = self.log_path.open("ab")
        self._files = [out]
        streams: dict[str, Any] = {"_out": out, "_err_to_out": True}
        if self.err_path is not None:
            err = self.err_path.open("ab")
            self._files.append(err)
            streams = {"_out": out, "_err": err}
        # Any: sh's overloads cannot see which of _out/_err/_err_to_out ``streams`` holds.
        program: Any = sh.Command(self.argv[0])
        self._command = program(
            *self.argv[1:],
            **streams,
            _env=dict(self.env) if self.env is not None else None,
            _cwd=str(self.cwd) if self.cwd else None,
            _preexec_fn=self.preexec_fn,
            _bg=True,
            _bg_exc=False,
            _new_session=True,
            _ok_code=ANY_EXIT,
        )
        return self

    @property
    def pid(self) -> int:
        return int(self._command.pid)

    @property
    def alive(self) -> bool:
        return self._command is not None and bool(self._command.process.is_alive()[0])

    @property
    def exit_code(self) -> int | None:
        """Its exit code once it has ended (negative: the signal that ended it)."""
        if self._command is None or self.alive:
            return None
        return int(self._command.process.exit_code)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait(self, timeout: float) -> Completed:
        """Wait for it to end by itself (sh.TimeoutException after ``timeout``); its
        exit code and the text of its logs."""
        self._command.wait(timeout=timeout)
        self._reaped = True
        self._close()
        err = self.err_path.read_text(errors="replace") if self.err_path else ""
        return Completed(int(self._command.exit_code), self.log(), err)

    def stop(self, grace: float = 10.0) -> None:
        """TERM it, KILL it after ``grace`` seconds, reap it; then KILL what is left of
        its process group and its descendants. Safe to call twice."""
        if self._command is None or self._reaped:
            return
        below: list[Any] = []
        # Signalled only while not reaped: afterwards its pid may be another process's.
        if self.alive:
            below = descendants(self.pid)
            self._terminate(grace)
        self._command.wait()
        self._reaped = True
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        stop_processes(below, grace)
        self._close()

    def _terminate(self, grace: float) -> None:
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            self._command.wait(timeout=grace)
        except sh.TimeoutException:
            with suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _close(self) -> None:
        for file in self._files:
            file.close()
        self._files = []


def inv_in_background(
    logdir: Path, *args: str, env: Mapping[str, str] | None = None, cwd: Path | str = ROOT
) -> Background:
    """``inv ARGS`` started in the background, its stdout and stderr kept apart in
    ``logdir``; ``wait()`` hands back its exit code and both."""
    out, err = logdir / "inv.out", logdir / "inv.err"
    return Background(inv_argv(*args), out, err_log=err, env=env, cwd=cwd).start()
