"""Figure 5: start-up of the task list and of a task's help (promkit imports lazily).

Each is a new `inv` process; the floor is `inv --version`, Invoke starting without
loading tasks.py, so the difference is what promkit's task modules add. The three
commands are interleaved, so load from elsewhere on the machine hits all alike.
"""

from __future__ import annotations

from bench.common import Ran, Row, goal, run_measured, sample
from tests.support import inv_argv

GOAL_MS = 400.0
COMMANDS: tuple[tuple[str, ...], ...] = (("--version",), ("--list",), ("verify.all", "--help"))


def figure5(runs: int) -> list[Row]:
    """`inv --list` and `inv verify.all --help` wall time versus `inv --version`."""
    ran: dict[tuple[str, ...], list[Ran]] = {args: [] for args in COMMANDS}
    for _ in range(runs):
        for args in COMMANDS:
            ran[args].append(run_measured(inv_argv(*args)))
    for args, results in ran.items():
        bad = [r for r in results if r.exit_code != 0]
        if bad:
            raise RuntimeError(f"inv {' '.join(args)} failed: {bad[0].stdout[-300:]}")
    floor = sample([r.wall_ms for r in ran[COMMANDS[0]]])
    rows = []
    for args in COMMANDS[1:]:
        wall = sample([r.wall_ms for r in ran[args]])
        rows.append(
            Row(f"5 `inv {' '.join(args)}`", wall, floor, goal(wall.median < GOAL_MS, "< 400 ms"))
        )
    rows.append(Row("5   floor: `inv --version` (Invoke without tasks.py)", floor))
    return rows
