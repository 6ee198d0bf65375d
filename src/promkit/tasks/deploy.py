"""deploy.*: bring a Prometheus stack up, after validating what would be deployed."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from promkit.core import settings
from promkit.tasks import kubernetes
from promkit.tasks.common import reports_errors


@task(
    help={
        "dry-run": "validate (read-only), then print the commands that would change something",
        "timeout": "seconds to wait for every service to be healthy (compose.wait_timeout)",
    }
)
@reports_errors
def local(c: Context, dry_run: bool = False, timeout: str | None = None) -> None:
    """Validate, get missing images, then start the local stack and wait until it is healthy."""
    from promkit.core.settings import as_float
    from promkit.local import stack as local_stack

    if timeout is not None:
        c.config.compose.wait_timeout = int(as_float(timeout, "--timeout", minimum=1))
    plan = local_stack.validate(c, c.config, dry_run=dry_run)
    print(f"validated {plan.project.file.name} and the Prometheus config")
    local_stack.up(c, plan, dry_run=dry_run)
    if not dry_run:
        print("\n".join(local_stack.addresses(settings.load(c.config))))


ns = Collection("deploy")
ns.add_task(local)
ns.add_task(kubernetes.deploy, name="k8s")
