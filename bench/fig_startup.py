"""Figure 5: start-up of the task list and of a task's help (promkit imports lazily).

Each is a new `inv` process; the floor is `inv --version`, Invoke starting without
loading tasks.py, so the difference is what promkit's task modules add. The three
commands are interleaved, so load from elsewhere on the machine hits all alike.
"""

from __future__ import annotations

from bench.common import (
    Figure,
    Options,
    Ran,
    Row,
    goal,
    log,
    median_below,
    run_measured,
    wall_sample,
)
from tests.support import inv_argv

GOAL_MS = 400.0
COMMANDS: tuple[tuple[str, ...], ...] = (("--version",), ("--list",), ("verify.all", "--help"))


def figure5(opts: Options) -> list[Row]:
    """`inv --list` and `inv verify.all --help` wall time versus `inv --version`."""
    ran: dict[tuple[str, ...], list[Ran]] = {args: [] for args in COMMANDS}
    for _ in range(opts.runs):
        for args in COMMANDS:
            ran[args].append(run_measured(inv_argv(*args)))
    for args, results in ran.items():
        bad = [r for r in results if r.exit_code != 0]
        if bad:
            log(f"figure 5: a red run of inv {' '.join(args)}: {bad[0].stdout[-300:]}")
    floor = wall_sample(ran[COMMANDS[0]])
    rows = []
    for args in COMMANDS[1:]:
        wall = wall_sample(ran[args])
        rows.append(
            Row(
                f"5 `inv {' '.join(args)}`",
                wall,
                floor,
                goal(wall, "< 400 ms", median_below(GOAL_MS)),
            )
        )
    rows.append(Row("5   floor: `inv --version` (Invoke without tasks.py)", floor))
    return rows


FIGURES = (Figure("5", "start-up of the task list and of a task's help", figure5),)
