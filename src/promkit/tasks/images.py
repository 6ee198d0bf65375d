"""images.*: build the images the local stack runs."""

from __future__ import annotations

from pathlib import Path

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
    from promkit import compose, images, settings

    chosen_images = settings.load(c.config).images
    if offline or chosen_images.offline == "always":
        chosen = images.build_offline(c, Path(chosen_images.cache_dir), dry_run=dry_run)
        print("compose will use: " + ", ".join(chosen.values()))
        return
    images.forget_offline_images(dry_run=dry_run)
    project = compose.Project.from_config(c.config)
    # Ignore compose/.env: it may still name offline images during a dry run.
    model = compose.rendered_config(c, project, env_file="/dev/null")
    upstream = sorted(
        {img for img in compose.service_images(model).values() if img != images.APP_IMAGE}
    )
    images.build_online(c, upstream, dry_run=dry_run)


ns = Collection("images")
ns.add_task(build)
