"""destroy.*: take a deployed stack down."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from promkit.tasks import kubernetes
from promkit.tasks.common import reports_errors


@task(
    help={
        "volumes": "also delete the Prometheus data volume (all stored metrics)",
        "dry-run": "print the commands without running them",
    }
)
@reports_errors
def local(c: Context, volumes: bool = False, dry_run: bool = False) -> None:
    """Stop and remove the local stack; its data volume is kept unless --volumes."""
    from promkit.local import stack as local_stack

    local_stack.destroy(c, c.config, volumes=volumes, dry_run=dry_run)


ns = Collection("destroy")
ns.add_task(local)
ns.add_task(kubernetes.destroy, name="k8s")
