"""Poll until every check passes or a deadline expires, with a short capped backoff.

While waiting, "not ready yet", "unreachable" and "timed out" count as "not
yet"; other errors (bad credentials, not Prometheus) stop at once, since
waiting cannot fix them. Progress is one live line on a terminal, plain
lines (only when something changes) otherwise.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO, TypeVar

from promkit.core import console, durations
from promkit.core.errors import ConfigError
from promkit.verify.client import NotReady, TimedOut, Unreachable
from promkit.verify.result import CheckResult

MAX_WAIT_S = 3600.0
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 1.0
NOT_YET = (NotReady, Unreachable, TimedOut)


class Round(Protocol):
    """What one attempt returns: at least its check results."""

    @property
    def results(self) -> Sequence[CheckResult]: ...


class DatedRound(Round, Protocol):
    """A round that also says when the server started (runtimeinfo's startTime)."""

    @property
    def started(self) -> datetime | None: ...


R = TypeVar("R", bound=Round)
D = TypeVar("D", bound=DatedRound)


def parse_wait(value: Any) -> float | None:
    """``--wait`` as seconds (None: do not wait), or a ConfigError for a bad value."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--wait must be a number of seconds, got {value!r}") from None
    if not 0 <= seconds <= MAX_WAIT_S:
        raise ConfigError(f"--wait must be between 0 and {MAX_WAIT_S:g} seconds, got {value!r}")
    return seconds or None


def summarize(results: Sequence[CheckResult]) -> str:
    """'5/7 checks pass; first failure: <check>: <evidence>' in one line."""
    passed = sum(1 for r in results if r.ok)
    line = f"{passed}/{len(results)} checks pass"
    failed = next((r for r in results if not r.ok), None)
    if failed is not None:
        first = next(iter(failed.evidence), "")
        line += f"; {failed.name}: {first}"
    return line


class Progress:
    """One live status line on a terminal, or plain lines when something changes."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._last = ""
        self._drawn = False

    def update(self, elapsed_s: float, deadline_s: float, status: str) -> None:
        """Show ``status`` with the time spent so far."""
        if self.live:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            line = f"waiting {elapsed_s:4.1f}s/{deadline_s:g}s: {status}"[:width]
            self.stream.write("\r" + line + "\x1b[K")
            self._drawn = True
        elif status != self._last:
            self.stream.write(f"waiting ({elapsed_s:.1f}s of {deadline_s:g}s): {status}\n")
        self._last = status
        self.stream.flush()

    def finish(self) -> None:
        """End the live line so what follows starts on a fresh line."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


def wait_until_green(
    attempt: Callable[[], R],
    deadline_s: float | None,
    *,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> R:
    """What ``attempt`` returns: the first all-green round, else the last round at the deadline.

    Without a deadline, one attempt whose errors propagate. When the deadline
    passes while the server is still unreachable or not ready, that error is
    raised, saying how long promkit waited.
    """
    if not deadline_s:
        return attempt()
    progress = progress or Progress()
    start, delay = clock(), FIRST_DELAY_S
    try:
        while True:
            error: NotReady | Unreachable | TimedOut | None = None
            try:
                last: R | None = attempt()
            except NOT_YET as exc:
                last, error = None, exc
            results = last.results if last is not None else None
            if last is not None and results and all(r.ok for r in results):
                return last
            elapsed = clock() - start
            if elapsed >= deadline_s:
                if last is not None:
                    return last
                assert error is not None
                raise type(error)(f"{error} (gave up after waiting {deadline_s:g}s)") from None
            progress.update(
                elapsed, deadline_s, summarize(results) if results is not None else str(error)
            )
            sleep(min(delay, deadline_s - elapsed))
            delay = min(delay * 2, MAX_DELAY_S)
    finally:
        progress.finish()


#: A server younger than this many scrape intervals may not have scraped everything yet.
YOUNG_INTERVALS = 3
#: Checks a young server may still fail only because it has not scraped enough yet;
#: configuration checks (interval, retention, ui) do not change by waiting. Discovery
#: needs its first pod list (a few seconds after the start); rule groups their first
#: evaluation (and recorded series, their inputs' first scrapes); the alerting chain
#: (verify.alerts' rows in verify.all) its peers found and the Watchdog's first notification.
FIXED_BY_SCRAPES = (
    "runs",
    "health",
    "jobs",
    "targets",
    "discovery",
    "rules",
    "rule selectors",
    "watchdog",
    "alertmanagers",
    "notification errors",
    "alertmanager",
    "delivery",
)


def time_may_fix(results: Sequence[CheckResult]) -> bool:
    """Whether every failed check is one that a young server's next scrapes can turn green."""
    failed = [r for r in results if not r.ok]
    return bool(failed) and all(
        not r.final and (r.name in FIXED_BY_SCRAPES or r.name.startswith("query: ")) for r in failed
    )


def young_server_wait(started: datetime | None, now: datetime, interval_s: float) -> float | None:
    """Seconds to keep polling a server that started under 3 scrape intervals ago, else None.

    A server older than that has had its first scrapes: a failure there is real, so
    verify fails at once instead of waiting silently.
    """
    if started is None:
        return None
    window = YOUNG_INTERVALS * interval_s
    age = (now - started).total_seconds()
    return window if age < window else None


def scraping_interval(targets: Any, expected_s: float) -> float:
    """The longest scrape interval the server's active targets say they are scraped at,
    else ``expected_s``: a young server's first scrapes come at its own pace, which may
    differ from what is expected of it (that is verify.interval's finding, not a wait's).
    """
    active = targets.get("activeTargets") if isinstance(targets, dict) else None
    seconds = []
    for target in active if isinstance(active, list) else []:
        interval = target.get("scrapeInterval") if isinstance(target, dict) else None
        if isinstance(interval, str):
            try:
                seconds.append(durations.parse_duration(interval))
            except ValueError:
                continue  # not a duration: the targets check names odd payloads
    return max(seconds, default=expected_s)


def young_server_line(started: datetime, now: datetime, wait_s: float) -> str:
    """``Prometheus started 6s ago: waiting for its first scrapes, up to 45s``."""
    age = max(0.0, (now - started).total_seconds())
    return f"Prometheus started {age:.0f}s ago: waiting for its first scrapes, up to {wait_s:g}s"


def wait_while_young(first: D, attempt: Callable[[], D], interval_s: float, now: datetime) -> D:
    """After a failed round, keep polling while the server is only a few intervals old.

    Only when every failure is one that scrapes can fix: a wrong retention or interval
    fails at once, young server or not. The line saying why goes to stderr.
    """
    started = first.started
    wait_s = young_server_wait(started, now, interval_s)
    if started is None or wait_s is None or not time_may_fix(first.results):
        return first
    console.warn(young_server_line(started, now, wait_s))
    return wait_until_green(attempt, wait_s)
