"""auth.*: basic auth in front of the local Prometheus, from a password in the environment."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from promkit.tasks.common import reports_errors


@task(help={"dry-run": "say which files would be written, write nothing"})
@reports_errors
def local(c: Context, dry_run: bool = False) -> None:
    """Write the web config (bcrypt hash of $PROMKIT_PROMETHEUS_PASSWORD) for compose.auth."""
    from promkit.local import stack as local_stack

    for line in local_stack.write_basic_auth(c.config, dry_run=dry_run):
        print(line)


ns = Collection("auth")
ns.add_task(local)
