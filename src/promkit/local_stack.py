"""Deploy, inspect and remove the local docker compose stack.

Validation comes first and touches nothing running: the compose file is rendered,
the project's own image must exist, and promtool checks the Prometheus config.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.context import Context

from promkit import compose, runner
from promkit.errors import PromkitError, ValidationError
from promkit.images import APP_IMAGE, image_exists
from promkit.settings import repo_path, section

#: Where the compose file mounts the Prometheus config folder.
CONFIG_MOUNT = "/etc/prometheus"


@dataclass(frozen=True)
class Plan:
    """What a deploy works on, once validated."""

    project: compose.Project
    images: dict[str, str]


def prometheus_config(config: Any) -> Path:
    """The Prometheus config file the stack mounts (setting compose.prometheus_config)."""
    path = repo_path(str(section(config, "compose").get("prometheus_config")))
    if not path.is_file():
        raise ValidationError(
            f"Prometheus config {path} not found: check compose.prometheus_config"
        )
    return path


def validate(c: Context, config: Any) -> Plan:
    """Check the compose file, the images and the Prometheus config; change nothing.

    It only reads, so a dry run performs it too.
    """
    project = compose.Project.from_config(config)
    compose.require_engine(c)
    images = compose.service_images(compose.rendered_config(c, project))
    require_project_images(c, images)
    check_prometheus_config(c, prometheus_config(config), images.get("prometheus", ""))
    return Plan(project, images)


def require_project_images(c: Context, images: dict[str, str]) -> None:
    """The sample app's image is built here, never pulled: it must exist locally."""
    for service, image in sorted(images.items()):
        if image.startswith(APP_IMAGE) and not image_exists(c, image):
            raise PromkitError(
                f"image {image} of service {service} is not built: run `inv images.build` "
                "(or `inv images.build --offline` without a registry)"
            )


def promtool_argv(c: Context, config_file: Path, image: str) -> list[str]:
    """promtool from the Prometheus image when present (same version), else from PATH."""
    if image and image_exists(c, image):
        return [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            "65534:65534",
            "--entrypoint",
            "/bin/promtool",
            "--volume",
            f"{config_file.parent}:{CONFIG_MOUNT}:ro",
            image,
            "check",
            "config",
            f"{CONFIG_MOUNT}/{config_file.name}",
        ]
    if shutil.which("promtool"):
        return ["promtool", "check", "config", str(config_file)]
    raise PromkitError(
        f"cannot check {config_file}: image {image or '?'} is not present and promtool is not "
        "on PATH; run `inv images.build` or install promtool"
    )


def check_prometheus_config(c: Context, config_file: Path, image: str) -> None:
    """Run promtool on ``config_file``; a ValidationError with its reason if invalid."""
    done = runner.run(c, promtool_argv(c, config_file, image), check=False)
    if not done.ok:
        output = done.stderr + "\n" + done.stdout
        reasons = [
            line.strip() for line in output.splitlines() if "FAILED" in line or "err" in line
        ]
        reason = reasons[-1] if reasons else runner.last_line(output)
        raise ValidationError(f"{config_file} is invalid, nothing was deployed: {reason}")


def up(c: Context, plan: Plan, *, dry_run: bool = False) -> None:
    """Start or update the stack and wait until every service is healthy."""
    argv = plan.project.argv(
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        str(plan.project.wait_timeout),
        "--remove-orphans",
    )
    done = runner.run(c, argv, dry_run=dry_run, check=False, hide=False)
    if not done.ok:
        raise PromkitError(explain_unhealthy(c, plan.project, done))


def explain_unhealthy(c: Context, project: compose.Project, done: runner.Completed) -> str:
    """One line naming the services that did not become healthy, after their log tails."""
    states = compose.ps(c, project)
    bad = [s for s in states if not s.healthy]
    for state in bad:
        print(f"--- last log lines of {state.service} ({state.state} {state.health}) ---")
        print(compose.logs_tail(c, project, state.service).rstrip())
    if not bad:
        return f"`docker compose up` failed: {runner.last_line(done.stderr) or 'see output above'}"
    names = ", ".join(f"{s.service} ({s.state}{' ' + s.health if s.health else ''})" for s in bad)
    return (
        f"not healthy within {project.wait_timeout}s: {names}; "
        "see the log lines above, then `inv status.local`"
    )


def down(c: Context, project: compose.Project, *, volumes: bool, dry_run: bool = False) -> None:
    """Stop and remove the stack's containers and network; its data volume only if asked."""
    argv = project.argv("down", "--remove-orphans", *(["--volumes"] if volumes else []))
    runner.run(c, argv, dry_run=dry_run, hide=False)
