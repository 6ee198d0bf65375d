"""Polling until green: capped backoff, 'not yet' errors, the deadline, the progress line."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from promkit.core.errors import ConfigError
from promkit.verify import client as prom
from promkit.verify import wait
from promkit.verify.result import CheckResult

GREEN = [CheckResult("health", "AC5", True, ["ok"])]
RED = [CheckResult("targets", "AC6", False, ["target a/b is DOWN: refused"])]


@dataclass
class Round:
    results: list[CheckResult]


@dataclass
class FakeTime:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "slept 0 s: a busy loop"
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*steps: list[CheckResult] | Exception) -> tuple[Callable[[], Round], list[int]]:
    calls: list[int] = []

    def attempt() -> Round:
        step = steps[min(len(calls), len(steps) - 1)]
        calls.append(1)
        if isinstance(step, Exception):
            raise step
        return Round(step)

    return attempt, calls


def run(
    attempt: Callable[[], Round],
    deadline: float | None,
    clock: FakeTime,
    stream: io.StringIO | None = None,
) -> Round:
    stream = stream or io.StringIO()
    return wait.wait_until_green(
        attempt,
        deadline,
        progress=wait.Progress(stream, live=False),
        clock=clock.clock,
        sleep=clock.sleep,
    )


def test_without_deadline_one_attempt_and_errors_propagate() -> None:
    attempt, calls = scripted(prom.NotReady("not ready yet"))
    with pytest.raises(prom.NotReady):
        run(attempt, None, FakeTime())
    assert len(calls) == 1


def test_waits_through_not_ready_and_unreachable_until_green() -> None:
    clock = FakeTime()
    attempt, calls = scripted(prom.Unreachable("down"), prom.NotReady("503"), RED, RED, GREEN)
    assert run(attempt, 30, clock).results == GREEN
    assert len(calls) == 5
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8]


def test_backoff_is_capped_at_one_second() -> None:
    clock = FakeTime()
    attempt, _ = scripted(RED)
    assert run(attempt, 10, clock).results == RED
    assert max(clock.sleeps) == wait.MAX_DELAY_S
    assert clock.sleeps[:5] == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert clock.now == pytest.approx(10.0)


def test_deadline_with_server_still_not_ready_says_so() -> None:
    attempt, _ = scripted(prom.NotReady("Prometheus at X is not ready yet (503 on /-/ready)"))
    with pytest.raises(prom.NotReady) as caught:
        run(attempt, 3, FakeTime())
    assert str(caught.value) == (
        "Prometheus at X is not ready yet (503 on /-/ready) (gave up after waiting 3s)"
    )


def test_errors_that_waiting_cannot_fix_stop_at_once() -> None:
    attempt, calls = scripted(prom.AuthFailed("401"))
    with pytest.raises(prom.AuthFailed):
        run(attempt, 60, FakeTime())
    assert len(calls) == 1


def test_plain_progress_prints_only_changes() -> None:
    stream = io.StringIO()
    attempt, _ = scripted(RED, RED, RED, GREEN)
    clock = FakeTime()
    wait.wait_until_green(
        attempt,
        30,
        progress=wait.Progress(stream, live=False),
        clock=clock.clock,
        sleep=clock.sleep,
    )
    lines = stream.getvalue().splitlines()
    assert lines == ["waiting (0.0s of 30s): 0/1 checks pass; targets: target a/b is DOWN: refused"]


def test_live_progress_redraws_one_line_and_clears_it() -> None:
    stream = io.StringIO()
    progress = wait.Progress(stream, live=True)
    progress.update(1.0, 30, "0/1 checks pass")
    progress.update(2.0, 30, "0/1 checks pass")
    progress.finish()
    text = stream.getvalue()
    assert "\n" not in text
    assert text.count("\r") == 3 and text.endswith("\r\x1b[K")
    assert "waiting  2.0s/30s: 0/1 checks pass" in text


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("0", None), ("2.5", 2.5), (60, 60.0)]
)
def test_parse_wait(value: object, expected: float | None) -> None:
    assert wait.parse_wait(value) == expected


@pytest.mark.parametrize("value", ["-1", "3601", "soon", "nan"])
def test_parse_wait_rejects(value: str) -> None:
    with pytest.raises(ConfigError, match="--wait must be"):
        wait.parse_wait(value)


START = datetime(2026, 12, 1, 20, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age_s", "expected"),
    [(0.0, 45.0), (6.0, 45.0), (44.9, 45.0), (45.0, None), (3600.0, None)],
)
def test_only_a_server_younger_than_three_intervals_is_waited_for(
    age_s: float, expected: float | None
) -> None:
    now = START + timedelta(seconds=age_s)
    assert wait.young_server_wait(START, now, 15.0) == expected


def test_an_unknown_start_time_is_never_waited_for() -> None:
    assert wait.young_server_wait(None, START, 15.0) is None


def test_the_young_server_line_says_how_old_and_how_long() -> None:
    line = wait.young_server_line(START, START + timedelta(seconds=6.2), 45.0)
    assert line == "Prometheus started 6s ago: waiting for its first scrapes, up to 45s"


def result(name: str, ok: bool) -> CheckResult:
    return CheckResult(name, "AC", ok, [])


@pytest.mark.parametrize(
    ("failing", "expected"),
    [
        (["targets"], True),
        (["jobs", "query: Request rate"], True),
        (["health"], True),
        (["retention"], False),
        (["targets", "interval"], False),
        (["ui"], False),
        # A rule group not evaluated yet, a recorded series or a Watchdog not there yet.
        (["rules", "rule selectors", "watchdog"], True),
        (["rules", "retention"], False),
        # The alerting chain: the cluster forming, the Watchdog's first notification; not
        # an alert firing beyond the always-on ones.
        (["alertmanagers", "notification errors", "alertmanager", "delivery"], True),
        (["delivery", "quiet"], False),
        ([], False),
    ],
)
def test_only_failures_that_scrapes_can_fix_are_waited_for(
    failing: list[str], expected: bool
) -> None:
    results = [result(name, name not in failing) for name in ("runs", "targets", "retention")]
    results += [
        result(name, False) for name in failing if name not in ("runs", "targets", "retention")
    ]
    assert wait.time_may_fix(results) is expected


@dataclass
class DatedRound:
    results: list[CheckResult]
    started: datetime | None = START


def test_wait_while_young_polls_a_young_server_and_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = DatedRound([result("targets", False)])
    green = DatedRound([result("targets", True)])
    now = START + timedelta(seconds=6)
    assert wait.wait_while_young(first, lambda: green, 15.0, now) is green
    assert "Prometheus started 6s ago: waiting for its first scrapes, up to 45s" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("age_s", "failing"), [(60.0, "targets"), (6.0, "retention")], ids=["old", "config"]
)
def test_wait_while_young_returns_at_once_when_waiting_cannot_help(
    age_s: float, failing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = DatedRound([result(failing, False)])

    def never() -> DatedRound:
        raise AssertionError("polled")

    assert wait.wait_while_young(first, never, 15.0, START + timedelta(seconds=age_s)) is first
    assert capsys.readouterr().err == ""


def targets(*intervals: object) -> dict[str, object]:
    return {"activeTargets": [{"scrapeInterval": i} for i in intervals], "droppedTargets": []}


@pytest.mark.parametrize(
    ("payload", "expected_s"),
    [
        (targets("1s"), 1.0),
        (targets("1s", "30s", "15s"), 30.0),  # the slowest target's first scrape counts
        (targets("1m"), 60.0),
        (targets(), 15.0),  # nothing discovered yet: as expected
        (targets("soon", None, 5), 15.0),  # not durations
        (targets("soon", "2s"), 2.0),
        ({"activeTargets": "x"}, 15.0),
        ([], 15.0),
        (None, 15.0),
    ],
)
def test_a_young_server_is_given_its_own_scrape_interval(
    payload: object, expected_s: float
) -> None:
    assert wait.scraping_interval(payload, 15.0) == expected_s


def test_a_final_failure_is_never_waited_for() -> None:
    unparsable = CheckResult("query: Broken rate", "AC7", False, ["bad_data"], final=True)
    assert not wait.time_may_fix([unparsable])
    assert not wait.time_may_fix([result("targets", False), unparsable])
    assert wait.time_may_fix([result("targets", False), result("query: Rate", False)])


# --- boundaries the mutation run (docs/testing.md) found untested ------------------------


def test_the_longest_wait_is_allowed() -> None:
    assert wait.parse_wait(wait.MAX_WAIT_S) == 3600.0


def test_targets_that_are_no_objects_are_skipped_for_the_interval() -> None:
    assert wait.scraping_interval({"activeTargets": ["x", {"scrapeInterval": "5s"}]}, 15.0) == 5.0


def test_the_summary_counts_passes_and_shows_the_first_failure_even_without_evidence() -> None:
    quiet = CheckResult("targets", "AC6", False, [])
    assert wait.summarize([GREEN[0], GREEN[0], quiet]) == "2/3 checks pass; targets: "
    assert wait.summarize(GREEN) == "1/1 checks pass"


@dataclass
class LateClock(FakeTime):
    """A monotonic clock far from zero, as time.monotonic is."""

    now: float = 1000.0


def test_the_deadline_counts_from_the_first_attempt_not_from_zero() -> None:
    clock = LateClock()
    attempt, calls = scripted(RED)
    assert run(attempt, 5, clock).results == RED
    assert clock.now == pytest.approx(1005.0) and len(calls) > 2


def test_a_progress_line_for_an_unreachable_server_names_the_error() -> None:
    stream = io.StringIO()
    attempt, _ = scripted(prom.Unreachable("connection refused"), GREEN)
    run(attempt, 30, FakeTime(), stream)
    assert stream.getvalue() == "waiting (0.0s of 30s): connection refused\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_live_on_a_terminal_and_its_line_fits_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = Terminal()
    progress = wait.Progress(stream)
    assert progress.live
    monkeypatch.setenv("COLUMNS", "31")
    progress.update(1.0, 30, "0/1 checks pass; targets: target a/b is DOWN")
    assert stream.getvalue() == "\r" + "waiting  1.0s/30s: 0/1 checks pass; targets"[:30] + "\x1b[K"
    progress.finish()
    progress.finish()  # a second finish has nothing left to clear
    assert stream.getvalue().count("\r\x1b[K") == 1


def test_progress_without_a_terminal_size_assumes_100_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(
        wait.shutil, "get_terminal_size", lambda fallback: os.terminal_size(fallback)
    )
    stream = io.StringIO()
    wait.Progress(stream, live=True).update(1.0, 30, "x" * 200)
    assert len(stream.getvalue()) == len("\r") + 99 + len("\x1b[K")


def test_plain_progress_prints_nothing_for_an_empty_first_status() -> None:
    stream = io.StringIO()
    wait.Progress(stream, live=False).update(0.0, 30, "")
    assert stream.getvalue() == ""


def test_the_young_server_line_never_says_a_negative_age() -> None:
    line = wait.young_server_line(START, START + timedelta(seconds=0.4), 45.0)
    assert line.startswith("Prometheus started 0s ago")
    assert wait.young_server_line(START, START - timedelta(seconds=3), 45.0).startswith(
        "Prometheus started 0s ago"
    )


def test_wait_while_young_keeps_polling_until_green() -> None:
    rounds = [DatedRound([result("targets", False)]), DatedRound([result("targets", True)])]
    first = DatedRound([result("targets", False)])
    got = wait.wait_while_young(first, lambda: rounds.pop(0), 15.0, START + timedelta(seconds=6))
    assert got.results[0].ok and rounds == []
