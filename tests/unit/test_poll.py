"""tests/support/poll.wait_for: only "not yet" errors are retried; a probe's bug is not."""

from __future__ import annotations

import json

import pytest
import requests
import sh

from tests.support.poll import WaitTimeout, wait_for


class Answers:
    """A probe that raises or returns ``steps`` in turn (the last one for ever), counting."""

    def __init__(self, *steps: object) -> None:
        self.steps, self.calls = steps, 0

    def __call__(self) -> object:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if isinstance(step, BaseException):
            raise step
        return step


def test_a_key_error_in_a_probe_propagates_at_once() -> None:
    probe = Answers(KeyError("activeTargets"), "never reached")
    with pytest.raises(KeyError, match="activeTargets"):
        wait_for("a probe with a bug", probe, timeout=30, every=0.01)
    assert probe.calls == 1


def test_a_value_error_that_is_not_half_written_json_propagates_at_once() -> None:
    probe = Answers(ValueError("could not convert string to float: 'x'"), "never reached")
    with pytest.raises(ValueError, match="could not convert"):
        wait_for("a probe with a bug", probe, timeout=30, every=0.01)
    assert probe.calls == 1


def test_a_connection_error_is_retried_until_the_answer() -> None:
    refused = requests.ConnectionError("Connection refused")
    probe = Answers(refused, refused, "up")
    assert wait_for("a server coming up", probe, timeout=30, every=0.01) == "up"
    assert probe.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        requests.Timeout("read timed out"),
        json.JSONDecodeError("Expecting value", '{"data": ', 9),
        requests.exceptions.JSONDecodeError("Expecting value", '{"data": ', 9),
        sh.ErrorReturnCode_1(b"kubectl get pods", b"", b"connection refused"),
    ],
    ids=["refused", "requests-timeout", "half-written-json", "requests-json", "sh-exit-1"],
)
def test_not_yet_errors_are_retried(error: BaseException) -> None:
    probe = Answers(error, None, True)
    assert wait_for("something coming up", probe, timeout=30, every=0.01) is True
    assert probe.calls == 3


def test_a_deadline_names_what_and_the_last_transient_error() -> None:
    probe = Answers(requests.ConnectionError("Connection refused"))
    with pytest.raises(WaitTimeout, match=r"the server: not within 0.05s \(last: ConnectionError"):
        wait_for("the server", probe, timeout=0.05, every=0.01)


def test_a_deadline_names_the_last_falsy_answer() -> None:
    with pytest.raises(WaitTimeout, match=r"the count: not within 0.05s \(last: 0\)"):
        wait_for("the count", lambda: 0, timeout=0.05, every=0.01)
