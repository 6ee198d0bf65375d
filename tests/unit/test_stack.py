"""promkit.stack: what the compose and Kubernetes stacks share."""

from __future__ import annotations

from promkit.core.console import kept_data_line
from promkit.core.deadline import Deadline


def test_deadline_counts_down_from_its_creation_and_floors_what_is_left() -> None:
    now = [100.0]
    deadline = Deadline(30, clock=lambda: now[0])
    assert (deadline.remaining(), deadline.passed()) == (30.0, False)
    now[0] = 125.0
    assert deadline.remaining() == 5.0
    assert deadline.remaining(floor=10.0) == 10.0
    now[0] = 130.0
    assert (deadline.remaining(), deadline.remaining(floor=1.0), deadline.passed()) == (
        0,
        1.0,
        True,
    )


def test_kept_data_line_says_how_to_delete_it_too() -> None:
    assert kept_data_line(" volume") == (
        "kept the Prometheus data volume (pass --volumes to delete it)"
    )
    assert kept_data_line(": namespace(s) monitoring", "them") == (
        "kept the Prometheus data: namespace(s) monitoring (pass --volumes to delete them)"
    )
