"""status.*: what is running and whether it is healthy."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from promkit.tasks.common import reports_errors


@task()
@reports_errors
def local(c: Context) -> None:
    """Show the local stack's services, state, health and ports (exit 1 if any is unhealthy)."""
    from promkit.local import compose

    project = compose.Project.from_config(c.config)
    compose.require_engine(c)
    states = compose.ps(c, project)
    if not states:
        raise Exit("the local stack is not running: start it with `inv deploy.local`", code=1)
    print(f"{'SERVICE':<12} {'STATE':<10} {'HEALTH':<10} PORTS")
    for s in states:
        print(f"{s.service:<12} {s.state:<10} {s.health or '-':<10} {s.ports}")
    if not all(s.healthy for s in states):
        raise Exit(code=1)


ns = Collection("status")
ns.add_task(local)
