"""Polling with a deadline: the first truthy answer of a probe, or a failure naming it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

import sh

T = TypeVar("T")

#: What a probe may raise while the thing it asks about is still coming up: nothing
#: listening yet or a reset (OSError, which requests' exceptions are), a half-written
#: answer (json.JSONDecodeError, and requests' own, which subclasses it), a command that
#: failed (sh.ErrorReturnCode). Anything else (a KeyError, another ValueError, an
#: AssertionError) is a bug in the probe or a wrong answer, and propagates at once: a
#: probe says "not yet" by returning a falsy value.
TRANSIENT: tuple[type[BaseException], ...] = (OSError, json.JSONDecodeError, sh.ErrorReturnCode)


class WaitTimeout(RuntimeError):
    """A wait reached its deadline; the message names what and what was last seen."""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.1) -> T:
    """The first truthy value ``probe()`` returns within ``timeout`` seconds.

    A transient error (a refused connection, a half-written answer, a failed command)
    counts as "not yet", any other error propagates at once; at the deadline WaitTimeout
    says what was last seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except TRANSIENT as exc:
            last = f"{type(exc).__name__}: {str(exc).strip()[-300:]}"
        else:
            if value:
                return value
            last = repr(value)[-300:]
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what}: not within {timeout:g}s (last: {last})")
        time.sleep(every)
