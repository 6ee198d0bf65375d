"""The local stack end to end on a real Docker engine: deploy, traffic, verify, tear down.

Runs in file order: the module fixture deploys once, the last tests take the stack
down and assert what is left. The fixture's finalizer removes everything even
when a test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from promkit.settings import ROOT

pytestmark = pytest.mark.e2e

# The same settings inv reads, so a second stack can run beside a user's one.
PROJECT = os.environ.get("INVOKE_COMPOSE_PROJECT", "promkit")
PROMETHEUS = os.environ.get("INVOKE_PROMETHEUS_URL", "http://127.0.0.1:9090")
COMPOSE = [
    "docker",
    "compose",
    "--file",
    str(ROOT / "compose/compose.yaml"),
    "--project-name",
    PROJECT,
]


def inv(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run an inv command the way a user does; show its output in the test log."""
    done = subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True
    )
    print(f"$ inv {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}")
    if check:
        assert done.returncode == 0, f"inv {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def containers() -> dict[str, str]:
    """Service -> container ID of the running stack."""
    rows = sh(*COMPOSE, "ps", "--format", "json", "--all").splitlines()
    parsed = [json.loads(row) for row in rows if row.strip()]
    return {row["Service"]: row["ID"] for row in parsed}


def stack_resources(kind: str) -> list[str]:
    """Names of Docker objects (container, network, volume) labelled with our project."""
    label = f"label=com.docker.compose.project={PROJECT}"
    argv = {
        "container": ["docker", "ps", "-a"],
        "network": ["docker", "network", "ls"],
        "volume": ["docker", "volume", "ls"],
    }[kind]
    return sh(
        *argv, "--filter", label, "--format", "{{.Names}}" if kind == "container" else "{{.Name}}"
    ).split()


@pytest.fixture(scope="module", autouse=True)
def deployed() -> Iterator[None]:
    inv("destroy.local", "--volumes")
    inv("deploy.local")
    yield
    inv("destroy.local", "--volumes", check=False)


def test_prometheus_is_healthy_and_ready() -> None:
    for path in ("/-/healthy", "/-/ready"):
        with urllib.request.urlopen(PROMETHEUS + path, timeout=5) as response:
            assert response.status == 200


def test_targets_become_up_after_a_webhook() -> None:
    inv("traffic", "--count", "20", "--duration", "20")
    deadline = time.monotonic() + 60
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        targets = get_json(PROMETHEUS + "/api/v1/targets?state=active")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if health.get("fastapi-app") == "up" and health.get("celery-workers") == "up":
            break
        time.sleep(0.5)
    assert health.get("fastapi-app") == "up", health
    assert health.get("celery-workers") == "up", health


def test_verify_all_is_green_after_traffic() -> None:
    inv("traffic", "--count", "30", "--duration", "20")
    done = inv("verify.all", "--wait", "120", check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_runs_as_non_root_with_data_on_the_named_volume() -> None:
    container = containers()["prometheus"]
    status = sh("docker", "exec", container, "cat", "/proc/1/status")
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert uid == "65534"
    mounts = json.loads(sh("docker", "inspect", "--format", "{{json .Mounts}}", container))
    data = [m for m in mounts if m["Destination"] == "/prometheus"]
    assert data and data[0]["Type"] == "volume"
    assert data[0]["Name"] == f"{PROJECT}_prometheus-data"
    assert "wal" in sh("docker", "exec", container, "ls", "/prometheus").split()


def test_ports_are_published_on_loopback_only() -> None:
    model = json.loads(sh(*COMPOSE, "config", "--format", "json"))
    published = [p for s in model["services"].values() for p in s.get("ports", [])]
    assert published, "the stack publishes Prometheus and the app"
    assert all(p["host_ip"] == "127.0.0.1" for p in published), published
    for service in ("prometheus", "app"):
        bindings = sh("docker", "port", containers()[service]).split()
        addresses = [b for b in bindings if ":" in b and not b.endswith("/tcp")]
        assert addresses and all(a.startswith("127.0.0.1:") for a in addresses), bindings


def test_second_deploy_recreates_nothing() -> None:
    before = containers()
    inv("deploy.local")
    assert containers() == before


def test_destroy_keeps_the_volume_and_leaves_nothing_else() -> None:
    inv("destroy.local")
    assert stack_resources("container") == []
    assert stack_resources("network") == []
    assert stack_resources("volume") == [f"{PROJECT}_prometheus-data"]


def test_destroy_with_volumes_leaves_nothing() -> None:
    inv("destroy.local", "--volumes")
    assert stack_resources("volume") == []
