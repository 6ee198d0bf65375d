"""images.*: build the images the local stack runs."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from promkit.tasks.common import reports_errors


@task(
    help={
        "offline": "build everything from package registries only (debootstrap + wheelhouse)",
        "dry-run": "print the commands without running them",
    }
)
@reports_errors
def build(c: Context, offline: bool = False, dry_run: bool = False) -> None:
    """Build (or pull) every image the local stack needs; --offline needs no registry."""
    from promkit.local import stack as local_stack

    local_stack.build_images(c, c.config, offline=offline, dry_run=dry_run)


ns = Collection("images")
ns.add_task(build)
