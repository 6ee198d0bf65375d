"""Security on the real compose stack: basic auth, no secret anywhere, hardened containers.

The module deploys its own stack (project promkit-security, ports 19190/18100) with
compose.auth on, after `inv auth.local` hashed a password made up for this run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promkit.core.settings import ROOT
from tests.support import get, request, run, wait_for
from tests.support.stack import Stack, stdout_of

pytestmark = pytest.mark.e2e

USER = "promkit-e2e"
PASSWORD = "pk-" + secrets.token_urlsafe(24)
CREDENTIALS = {"PROMKIT_PROMETHEUS_USERNAME": USER, "PROMKIT_PROMETHEUS_PASSWORD": PASSWORD}
STACK = Stack("promkit-security", prometheus_port=19190, app_port=18100)
# The project's state folder (compose.state_dir under the folder `inv` runs in), never
# the package: compose.auth.yaml mounts it by the absolute path in $PROMKIT_AUTH_DIR.
AUTH_DIR = STACK.state / "auth"
AUTH_ENV = {**os.environ, "PROMKIT_AUTH_DIR": str(AUTH_DIR)}
SERVICES = (
    "prometheus",
    "alertmanager-1",
    "alertmanager-2",
    "alert-sink",
    "app",
    "worker",
    "redis",
    "demo-traffic",
)
#: Folders of the working tree that are not the project's files.
NOT_THE_REPO = {".git", ".nox", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
#: Everything promkit printed in this module, searched for the password at the end.
OUTPUTS: list[str] = []


def inv(*args: str, check: bool = True, **env: str) -> Any:
    done = STACK.inv(*args, check=check, env=STACK.env(**env) if env else None)
    OUTPUTS.append(done.stdout + done.stderr)
    return done


def without_credentials() -> dict[str, str]:
    env = STACK.env()
    for name in CREDENTIALS:
        env.pop(name)
    return env


@pytest.fixture(scope="module", autouse=True)
def deployed() -> Iterator[None]:
    STACK.extra_env.update(INVOKE_COMPOSE_AUTH="1", **CREDENTIALS)
    STACK.remove()
    try:
        inv("--echo", "auth.local")
        inv("--echo", "deploy.local")
        inv("traffic", "--count", "20", "--duration", "20")
        yield
    finally:
        STACK.remove()
        shutil.rmtree(AUTH_DIR, ignore_errors=True)


def test_unauthenticated_requests_get_401() -> None:
    for path in ("/-/healthy", "/-/ready", "/api/v1/query?query=up", "/metrics", "/graph"):
        assert get(STACK.prometheus + path).status_code == 401, path
        assert get(STACK.prometheus + path, auth=(USER, "wrong")).status_code == 401, path
        assert get(STACK.prometheus + path, auth=(USER, PASSWORD)).status_code in (200, 302), path
    assert request("POST", STACK.prometheus + "/-/reload")[0] == 401


def test_verify_passes_with_the_credentials() -> None:
    # The stack's own demo traffic gives rate() its samples: nothing to post here.
    inv("--echo", "verify.all", "--wait", "120")


def test_verify_without_credentials_fails_naming_the_variables() -> None:
    done = STACK.inv("verify.all", check=False, env=without_credentials())
    OUTPUTS.append(done.stdout + done.stderr)
    assert done.returncode == 2
    assert (done.stdout + done.stderr).strip() == (
        f"promkit: Prometheus at {STACK.prometheus} answered 401 Unauthorized: credentials are "
        "needed: set $PROMKIT_PROMETHEUS_USERNAME and $PROMKIT_PROMETHEUS_PASSWORD for basic "
        "auth, or $PROMKIT_PROMETHEUS_TOKEN for a token"
    )


def test_deploy_refuses_credentials_the_web_config_does_not_accept() -> None:
    before = STACK.containers()
    done = inv("deploy.local", check=False, PROMKIT_PROMETHEUS_PASSWORD="not-it")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "promkit: the credentials ($PROMKIT_PROMETHEUS_USERNAME with "
        f"$PROMKIT_PROMETHEUS_PASSWORD) are not the ones {AUTH_DIR}/web/web.yml accepts: run "
        "`inv auth.local` with them, or set the right ones"
    )
    assert STACK.containers() == before


def test_reload_authenticates_too() -> None:
    done = inv("--echo", "reload.local")
    assert "Prometheus reloaded" in done.stdout
    refused = STACK.inv("reload.local", check=False, env=without_credentials())
    assert refused.returncode == 2
    assert "basic auth is on (compose.auth) but no credentials are set" in refused.stderr


def test_prometheus_scrapes_itself_with_its_own_credentials() -> None:
    def scraped() -> dict[str, tuple[str, str]] | None:
        targets = STACK.api("/api/v1/targets", auth=(USER, PASSWORD))["activeTargets"]
        health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
        return health if health.get("prometheus", ("unknown",))[0] != "unknown" else None

    # Right after the deploy its first self-scrape may not have happened yet.
    health = wait_for("Prometheus' first scrape of itself", scraped, 30, every=0.5)
    assert health["prometheus"] == ("up", ""), health
    served = STACK.api("/api/v1/status/config", auth=(USER, PASSWORD))["yaml"]
    assert "password_file: /etc/prometheus-web/self-scrape.password" in served


def rendered_model(*files: str) -> dict[str, Any]:
    argv = ["docker", "compose"]
    for name in files:
        argv += ["--file", str(ROOT / "compose" / name)]
    argv += ["--project-name", STACK.project, "config", "--format", "json"]
    return dict(json.loads(run(argv, env=AUTH_ENV, check=True).stdout))


def test_the_auth_file_keeps_every_flag_and_publishes_on_loopback_only() -> None:
    base = rendered_model("compose.yaml")["services"]["prometheus"]["command"]
    layered = rendered_model("compose.yaml", "compose.auth.yaml")
    command = layered["services"]["prometheus"]["command"]
    assert set(base) <= set(command), set(base) - set(command)
    assert "--web.config.file=/etc/prometheus-web/web.yml" in command
    published = [p for s in layered["services"].values() for p in s.get("ports", [])]
    assert published and all(p["host_ip"] == "127.0.0.1" for p in published), published


@pytest.mark.parametrize("service", SERVICES)
def test_containers_run_non_root_without_capabilities_on_a_read_only_root(service: str) -> None:
    container = STACK.inspect(service)
    config, host = container["Config"], container["HostConfig"]
    user = config["User"].split(":")[0]
    assert user and user not in ("0", "root"), config["User"]
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Privileged"] is False
    status = stdout_of("docker", "exec", container["Id"], "cat", "/proc/1/status")
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert "0" not in uids, f"{service} runs as {uids}"
    effective = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))
    assert int(effective, 16) == 0, f"{service} has capabilities {effective}"


def _repo_files() -> Iterator[Path]:
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in NOT_THE_REPO and d != "__pycache__"]
        for name in files:
            yield Path(folder) / name


def test_the_password_is_nowhere() -> None:
    """Not in the repo, the rendered configs, docker's view of the stack, or promkit's output."""
    self_secret = (AUTH_DIR / "web" / "self-scrape.password").read_text().strip()
    # Commands that pass the credentials on, echoed, beside the module's own runs (this
    # test does not count on the others having run before it).
    for args in (("--echo", "reload.local"), ("--echo", "deploy.local"), ("verify.health",)):
        inv(*args)
    places = {
        "docker compose config": run(
            STACK.compose_argv("--file", str(ROOT / "compose/compose.auth.yaml"), "config"),
            env=AUTH_ENV,
            check=True,
        ).stdout,
        "kubectl kustomize k8s": stdout_of("kubectl", "kustomize", str(ROOT / "k8s")),
        "promkit's output (inv --echo)": "\n".join(OUTPUTS),
        "status.local": inv("--echo", "status.local").stdout,
    }
    for service in SERVICES:
        places[f"docker inspect {service}"] = json.dumps(STACK.inspect(service))
        places[f"docker logs {service}"] = stdout_of("docker", "logs", STACK.containers()[service])
    assert len(OUTPUTS) >= 6, "the module's and this test's runs were kept"
    for where, text in places.items():
        assert PASSWORD not in text, f"the password is in {where}"
        assert self_secret not in text, f"the self-scrape password is in {where}"
    secret = PASSWORD.encode()
    found = [path for path in _repo_files() if secret in path.read_bytes()]
    assert found == [], f"the password is in {found}"
    holders = [path for path in _repo_files() if self_secret.encode() in path.read_bytes()]
    assert holders == [AUTH_DIR / "web" / "self-scrape.password"], holders
