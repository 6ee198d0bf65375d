"""A compose stack of its own for an e2e module: project, ports, `inv` and Prometheus' API.

Each module runs its stack under its own compose project and loopback ports, so it
never touches the default `promkit` project a user or another test run may have up.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promkit.settings import ROOT


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

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of an `inv` run: this stack's project, ports and URLs."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
        env.update(
            INVOKE_COMPOSE_PROJECT=self.project,
            PROMKIT_PROMETHEUS_PORT=str(self.prometheus_port),
            PROMKIT_APP_PORT=str(self.app_port),
            INVOKE_PROMETHEUS_URL=self.prometheus,
            INVOKE_COMPOSE_APP_URL=self.app,
        )
        if self.root != ROOT:
            env["PYTHONPATH"] = str(self.root / "src")
        env.update(self.extra_env)
        env.update(extra)
        return env

    def inv(
        self, *args: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `inv ARGS`; show its output in the test log; assert success if ``check``."""
        done = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=self.root,
            env=dict(env) if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(f"$ inv {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}")
        if check:
            assert done.returncode == 0, f"inv {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
        return done

    def compose_argv(self, *args: str) -> list[str]:
        return [
            "docker",
            "compose",
            "--file",
            str(self.root / "compose/compose.yaml"),
            "--project-name",
            self.project,
            *args,
        ]

    def compose(self, *args: str) -> str:
        """Run `docker compose ARGS` on this project (only ever on containers it created)."""
        return sh(*self.compose_argv(*args))

    def containers(self) -> dict[str, str]:
        """Service -> container ID."""
        rows = self.compose("ps", "--format", "json", "--all").splitlines()
        return {row["Service"]: row["ID"] for row in map(json.loads, filter(str.strip, rows))}

    def inspect(self, service: str) -> dict[str, Any]:
        found = json.loads(sh("docker", "inspect", self.containers()[service]))
        return dict(found[0])

    def api(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
        """The ``data`` of a Prometheus API answer."""
        url = self.prometheus + path + ("?" + urllib.parse.urlencode(params) if params else "")
        status, body = http(url, auth)
        assert status == 200, (url, status, body[:300])
        return json.loads(body)["data"]

    def remove(self) -> None:
        """Take the stack down with its volume, whatever state it is in."""
        subprocess.run(
            self.compose_argv("down", "--volumes", "--remove-orphans"),
            capture_output=True,
            timeout=300,
        )


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300).stdout


def http(
    url: str,
    auth: tuple[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """Status and body of one request to a loopback URL (any status)."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def poll(condition: Callable[[], Any], timeout: float, what: str, every: float = 1.0) -> Any:
    """The first truthy value of ``condition()`` within ``timeout`` seconds, else fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(every)
