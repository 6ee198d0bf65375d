"""console.say and console.warn: the one place library code writes lines for the user."""

from __future__ import annotations

import pytest

from promkit.core import console


def test_say_writes_the_line_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    console.say("built promkit/app:1")
    console.say()
    assert capsys.readouterr() == ("built promkit/app:1\n\n", "")


def test_say_end_replaces_the_newline(capsys: pytest.CaptureFixture[str]) -> None:
    console.say("[dry-run] write .env:\nA=1\n", end="")
    console.say("next")
    assert capsys.readouterr().out == "[dry-run] write .env:\nA=1\nnext\n"


def test_warn_writes_the_line_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    console.warn("promkit: no chromium; the report has no screenshots")
    assert capsys.readouterr() == ("", "promkit: no chromium; the report has no screenshots\n")


def test_say_and_warn_reach_the_file_descriptors(capfd: pytest.CaptureFixture[str]) -> None:
    console.say("out")
    console.warn("err")
    assert capfd.readouterr() == ("out\n", "err\n")
