"""One budget of seconds for the waits of a deploy (promkit.local.stack, promkit.k8s.stack).

Both stacks deploy in the same steps: validate without touching anything, then change
things (printed instead under ``--dry-run``), then wait for readiness within one
budget of seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Deadline:
    """One budget of seconds shared by several waits, counted from its creation."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self, floor: float = 0.0) -> float:
        """Seconds left, never less than ``floor`` (a command given 0s would not even start)."""
        return max(floor, self._end - self._clock())

    def passed(self) -> bool:
        """Whether the budget is spent."""
        return self._clock() >= self._end
