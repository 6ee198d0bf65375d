"""docs/performance.md cannot drift from bench/: every figure has its block, written by
``python -m bench --markdown``, and its goal row; no block is left hand-written."""

from __future__ import annotations

import re

import pytest

from bench.__main__ import DOC, SHARED, figures, lanes, parse_args

NUMBERS = [figure.number for figure in figures()]


@pytest.mark.parametrize("number", NUMBERS)
def test_every_figure_has_a_block_written_by_the_bench(number: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(rf"<!-- bench:fig{number} -->\n(.*?)<!-- /bench:fig{number} -->", text, re.S)
    assert block, f"docs/performance.md has no <!-- bench:fig{number} --> block"
    body = block.group(1)
    assert body.startswith("Measured "), f"figure {number}'s block is not the bench's: {body[:80]}"
    rows = [line for line in body.splitlines() if line.startswith(f"| {number} ")]
    assert rows, f"figure {number}'s block has no row of figure {number}"


@pytest.mark.parametrize("number", NUMBERS)
def test_every_figure_has_a_goal(number: str) -> None:
    goals = DOC.read_text(encoding="utf-8").split("## Goals", 1)[1]
    assert re.search(rf"^\| {number} \| \S", goals, re.M), f"no goal row for figure {number}"


def test_every_goal_verdict_is_backed_by_a_row_of_the_same_figure() -> None:
    """A verdict ("met", "MISSED") appears only in a figure's own table rows."""
    latest = DOC.read_text(encoding="utf-8").split("## What each figure measures", 1)[0]
    for line in latest.splitlines():
        if re.search(r": (met|MISSED)\b", line):
            assert re.match(r"^\| \d+ ", line), f"a verdict outside a table row: {line}"


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_lanes_hold_every_figure_once_and_keep_shared_ones_together(count: int) -> None:
    split = lanes(figures(), count)
    assert len(split) == min(count, len(split)) and 1 <= len(split) <= count
    numbers = [figure.number for lane in split for figure in lane]
    assert sorted(numbers, key=int) == NUMBERS
    for resource in set(SHARED.values()):
        sharing = {f for f, r in SHARED.items() if r == resource}
        holding = [lane for lane in split if sharing & {figure.number for figure in lane}]
        assert len(holding) == 1, f"figures {sorted(sharing)} split over lanes"


def test_lanes_need_quick() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--lanes", "3"])
    assert parse_args(["--quick", "--lanes", "3"]).lanes == 3
