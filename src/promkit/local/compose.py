"""An adapter over ``docker compose`` for the local stack, built on promkit.core.runner."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke.context import Context

from promkit.core import runner
from promkit.core.errors import PromkitError, ValidationError
from promkit.core.settings import load, repo_path

#: The compose file (next to compose.yaml) that puts basic auth in front of Prometheus.
AUTH_FILE = "compose.auth.yaml"
#: The variable compose.auth.yaml takes the project's auth folder from (an absolute path).
AUTH_DIR_VAR = "PROMKIT_AUTH_DIR"
_ENV_FILE_HEADER = (
    "# promkit's variables for this compose project (docker compose --env-file);\n"
    "# `inv images.build --offline` writes the offline images' tags here.\n"
)


@dataclass(frozen=True)
class Project:
    """Which compose file and project name every command works on."""

    file: Path
    name: str
    wait_timeout: int
    #: What promkit writes for this project (<compose.state_dir>/<name>/), never the package.
    state: Path
    #: Further compose files layered on ``file`` (compose.auth.yaml when compose.auth is on).
    overrides: tuple[Path, ...] = ()
    #: Variables compose interpolates (PROMKIT_PROMETHEUS_CONFIG_DIR), for config and up.
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any) -> Project:
        """The project described by the ``compose`` settings."""
        settings = load(config).compose
        file = repo_path(settings.file)
        if not file.is_file():
            raise PromkitError(f"compose file {file} not found: check setting 'compose.file'")
        overrides = (file.parent / AUTH_FILE,) if settings.auth else ()
        state = Path.cwd() / settings.state_dir / settings.project
        return cls(
            file=file,
            name=settings.project,
            wait_timeout=settings.wait_timeout,
            state=state,
            overrides=overrides,
            env={AUTH_DIR_VAR: str(state / "auth")} if settings.auth else {},
        )

    @property
    def env_file(self) -> Path:
        """The variables compose reads for this project (the offline images' tags)."""
        return self.state / ".env"

    @property
    def auth_dir(self) -> Path:
        """The project's basic auth files (``inv auth.local`` writes them)."""
        return self.state / "auth"

    def argv(self, *args: str, env_file: str | None = None) -> list[str]:
        """``docker compose`` argv for this project, reading ``env_file`` (its own by default)."""
        extra = ["--env-file", env_file or str(self.env_file)]
        layered = [arg for path in self.overrides for arg in ("--file", str(path))]
        return [
            "docker",
            "compose",
            "--file",
            str(self.file),
            *layered,
            "--project-name",
            self.name,
            *extra,
            *args,
        ]


@dataclass(frozen=True)
class ServiceState:
    """One container of the stack as ``docker compose ps`` reports it."""

    service: str
    container: str
    state: str
    health: str
    ports: str

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")


def require_engine(c: Context) -> None:
    """Fail with one clear line unless the Compose v2 plugin and a running engine are there."""
    plugin = runner.run(c, ["docker", "compose", "version", "--short"], check=False)
    if not plugin.ok:
        raise PromkitError(
            "Docker Compose v2 is missing (`docker compose version` failed): install the "
            "compose plugin, e.g. as ~/.docker/cli-plugins/docker-compose (see README.md)"
        )
    engine = runner.run(c, ["docker", "info", "--format", "{{.ServerVersion}}"], check=False)
    if not engine.ok:
        reason = runner.last_line(engine.stderr) or runner.last_line(engine.stdout)
        raise PromkitError(
            f"the Docker engine is not reachable ({reason}): start dockerd and retry"
        )


def ensure_env_file(project: Project) -> None:
    """Make the project's env file (no variables yet) unless it exists: compose needs it."""
    if not project.env_file.is_file():
        project.state.mkdir(parents=True, exist_ok=True)
        project.env_file.write_text(_ENV_FILE_HEADER)


def run(
    c: Context,
    project: Project,
    *args: str,
    dry_run: bool = False,
    check: bool = True,
    hide: bool | str = True,
) -> runner.Completed:
    """``docker compose ARGS`` on ``project``, with its env file and variables.

    A dry run prints the command and writes nothing; a real one makes the env file first.
    """
    if not dry_run:
        ensure_env_file(project)
    return runner.run(
        c, project.argv(*args), dry_run=dry_run, check=check, hide=hide, env=project.env
    )


def rendered_config(
    c: Context, project: Project, *, env_file: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """The resolved compose model; a ValidationError with compose's reason if it is invalid.

    It is rendered even under ``dry_run``, which writes nothing: a project without an env
    file yet is rendered with none (/dev/null), as a real run would with an empty one.
    """
    if env_file is None and dry_run and not project.env_file.is_file():
        env_file = os.devnull
    if env_file is None:
        ensure_env_file(project)
    argv = project.argv("config", "--format", "json", env_file=env_file)
    done = runner.run(c, argv, check=False, env=project.env)
    if not done.ok:
        reason = runner.last_line(done.stderr) or runner.last_line(done.stdout)
        raise ValidationError(f"compose file {project.file} is invalid: {reason}")
    try:
        model = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise ValidationError(
            "`docker compose config` did not print JSON: is Compose v2 installed?"
        ) from None
    if not isinstance(model, dict):
        raise ValidationError("`docker compose config` printed something other than a project")
    return model


def service_images(model: dict[str, Any]) -> dict[str, str]:
    """Service name -> image reference, from a rendered compose model."""
    services = model.get("services") or {}
    return {name: str(spec.get("image", "")) for name, spec in services.items()}


def parse_ps(output: str) -> list[ServiceState]:
    """Parse ``docker compose ps --format json`` (one object per line, or one JSON list)."""
    text = output.strip()
    if not text:
        return []
    rows: Sequence[Any]
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [
        ServiceState(
            service=str(row.get("Service", "")),
            container=str(row.get("Name", "")),
            state=str(row.get("State", "")),
            health=str(row.get("Health", "")),
            ports=str(row.get("Ports", "")),
        )
        for row in rows
    ]


def ps(c: Context, project: Project, *, all_states: bool = True) -> list[ServiceState]:
    """The stack's containers and their health."""
    args = ["ps", "--format", "json"] + (["--all"] if all_states else [])
    return parse_ps(run(c, project, *args).stdout)


def logs_tail(c: Context, project: Project, service: str, lines: int = 30) -> str:
    """The last ``lines`` lines of a service's log (empty if compose cannot give them)."""
    return run(c, project, "logs", "--no-color", "--tail", str(lines), service, check=False).stdout
