"""A compose stack of its own for an e2e module: project, ports, `inv` and Prometheus' API.

Each module runs its stack under its own compose project and loopback ports, so it
never touches the default `promkit` project a user or another test run may have up.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from promkit.core.settings import ROOT
from tests.support import Completed, api_data, env_without, inv, run


@dataclass
class Stack:
    """One compose project on its own ports, driven through `inv` like a user would."""

    project: str
    prometheus_port: int
    app_port: int
    #: Extra environment for every `inv` (settings, credentials).
    extra_env: dict[str, str] = field(default_factory=dict)
    #: The checkout `inv` runs in (another one imports its own src/promkit).
    root: Path = ROOT

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def app(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def alert_ports(self) -> dict[str, int]:
        """The alerting services' host ports, next to Prometheus' (19090: 19093, 19096, 19095)."""
        return {
            "alertmanager-1": self.prometheus_port + 3,
            "alertmanager-2": self.prometheus_port + 6,
            "alert-sink": self.prometheus_port + 5,
        }

    def url_of(self, service: str) -> str:
        """The loopback URL of an alerting service (alertmanager-1, alertmanager-2, alert-sink)."""
        return f"http://127.0.0.1:{self.alert_ports[service]}"

    @property
    def state(self) -> Path:
        """The project's state folder (compose.state_dir's default, under ``root``)."""
        return self.root / ".promkit" / self.project

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of an `inv` run: this stack's project, ports and URLs."""
        env = env_without("INVOKE_")
        env.update(
            INVOKE_COMPOSE_PROJECT=self.project,
            PROMKIT_PROMETHEUS_PORT=str(self.prometheus_port),
            PROMKIT_APP_PORT=str(self.app_port),
            INVOKE_PROMETHEUS_URL=self.prometheus,
            INVOKE_COMPOSE_APP_URL=self.app,
            PROMKIT_ALERTMANAGER_PORT=str(self.alert_ports["alertmanager-1"]),
            PROMKIT_ALERTMANAGER2_PORT=str(self.alert_ports["alertmanager-2"]),
            PROMKIT_ALERT_SINK_PORT=str(self.alert_ports["alert-sink"]),
            INVOKE_ALERTS_ALERTMANAGER_URL=self.url_of("alertmanager-1"),
            INVOKE_ALERTS_SINK_URL=self.url_of("alert-sink"),
        )
        if self.root != ROOT:
            env["PYTHONPATH"] = str(self.root / "src")
        env.update(self.extra_env)
        env.update(extra)
        return env

    def inv(
        self, *args: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> Completed:
        """Run `inv ARGS`; show its output in the test log; assert success if ``check``."""
        done = inv(*args, cwd=self.root, env=env if env is not None else self.env(), timeout=600)
        print(f"$ inv {' '.join(args)} -> {done.returncode}\n{done.output}")
        if check:
            assert done.returncode == 0, f"inv {' '.join(args)} failed:\n{done.output}"
        return done

    def compose_argv(self, *args: str) -> list[str]:
        """``docker compose`` on this project, reading the env file promkit wrote for it
        (the offline images' tags) once there is one, as promkit's own commands do."""
        env_file = self.state / ".env"
        return [
            "docker",
            "compose",
            "--file",
            str(self.root / "compose/compose.yaml"),
            "--project-name",
            self.project,
            *(["--env-file", str(env_file)] if env_file.is_file() else []),
            *args,
        ]

    def compose(self, *args: str) -> str:
        """Run `docker compose ARGS` on this project (only ever on containers it created)."""
        return stdout_of(*self.compose_argv(*args))

    def containers(self) -> dict[str, str]:
        """Service -> container ID."""
        rows = self.compose("ps", "--format", "json", "--all").splitlines()
        return {row["Service"]: row["ID"] for row in map(json.loads, filter(str.strip, rows))}

    def inspect(self, service: str) -> dict[str, Any]:
        found = json.loads(stdout_of("docker", "inspect", self.containers()[service]))
        return dict(found[0])

    def api(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
        """The ``data`` of a Prometheus API answer."""
        return api_data(self.prometheus, path, params, auth=auth)

    def remove(self) -> None:
        """Take the stack down with its volume, whatever state it is in."""
        run(self.compose_argv("down", "--volumes", "--remove-orphans"), timeout=300)


def copy_of_config(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A copy of config/prometheus for a module's stack to mount (and its tests to edit)."""
    folder = tmp_path_factory.mktemp(name) / "prometheus"
    shutil.copytree(ROOT / "config" / "prometheus", folder)
    return folder


@contextmanager
def deployed_from(stack: Stack, config_dir: Path, *then: Sequence[str]) -> Iterator[None]:
    """``stack`` deployed mounting ``config_dir`` (then each `inv` of ``then``), removed after."""
    stack.extra_env["INVOKE_COMPOSE_PROMETHEUS_CONFIG"] = str(config_dir / "prometheus.yml")
    stack.remove()
    try:
        stack.inv("deploy.local")
        for args in then:
            stack.inv(*args)
        yield
    finally:
        stack.remove()


def stdout_of(*argv: str) -> str:
    """What ``argv`` printed on stdout; AssertionError with its output if it failed."""
    return run(argv, check=True).stdout
