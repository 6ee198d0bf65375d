"""Bad input to a real `inv`: exit code 2, one line saying what to do, nothing changed.

Complements test_verify_errors.py (unreachable, HTTP 500, HTML, plain text, negative
--wait), test_verify_auth.py (401) and test_verify_green.py (invalid PromQL in the
guide: a check failure, exit 1). Tools are made missing the way a user's machine
lacks them: a PATH without them, a Docker config without the compose plugin, a
DOCKER_HOST where no engine listens.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Completed, reply, run, serving
from tests.support.loopback import self_signed

pytestmark = pytest.mark.integration

#: A compose project no one else uses: nothing may ever be created for it.
PROJECT = "promkit-badinput"
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: alpha
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: alpha
  user: {token: not-a-real-token}
contexts:
- name: alpha
  context: {cluster: alpha, user: alpha}
current-context: alpha
"""


def one_clean_line(result: Completed, it: Any) -> str:
    """The single line a failed run printed (stdout and stderr together), checked for exit 2."""
    out = it.output(result)
    assert result.returncode == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    line: str = lines[0]
    return line


def path_with_only_bash(tmp_path: Path) -> str:
    """A PATH holding nothing but bash (Invoke runs every command through it)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    bash = shutil.which("bash")
    assert bash, "bash is needed by Invoke itself"
    (folder / "bash").symlink_to(bash)
    return str(folder)


def project_containers() -> list[str]:
    label = f"label=com.docker.compose.project={PROJECT}"
    done = run(["docker", "ps", "--all", "--filter", label, "--format", "{{.Names}}"], check=True)
    return done.stdout.split()


@pytest.fixture
def local_env(it: Any) -> Iterator[Callable[..., dict[str, str]]]:
    """Environment for local-stack tasks on PROJECT; asserts no container was created."""
    assert project_containers() == []
    yield lambda **extra: it.env(INVOKE_COMPOSE_PROJECT=PROJECT, **extra)
    assert project_containers() == [], "bad input must not create anything"


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig with one context, alpha; it must be unchanged afterwards."""
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    yield path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


# -- Kubernetes ------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["verify.health", "deploy.k8s", "destroy.k8s"])
def test_unknown_context(task: str, kubeconfig: Path, it: Any) -> None:
    env = it.env(KUBECONFIG=str(kubeconfig))
    line = one_clean_line(it.inv(task, "--context", "nope", env=env), it)
    assert line == (
        "promkit: Kubernetes context 'nope' is not in your kubeconfig: available contexts are "
        "alpha (see `kubectl config get-contexts`)"
    )


@pytest.mark.parametrize("task", ["verify.health", "deploy.k8s"])
def test_missing_kubectl(task: str, kubeconfig: Path, it: Any, tmp_path: Path) -> None:
    env = it.env(KUBECONFIG=str(kubeconfig), PATH=path_with_only_bash(tmp_path))
    line = one_clean_line(it.inv(task, "--context", "alpha", env=env), it)
    assert line == "promkit: kubectl not found on PATH: install it (see README.md) and try again"


# -- Docker ------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["deploy.local", "status.local", "destroy.local", "reload.local"])
def test_missing_docker(
    task: str, local_env: Callable[..., dict[str, str]], it: Any, tmp_path: Path
) -> None:
    line = one_clean_line(it.inv(task, env=local_env(PATH=path_with_only_bash(tmp_path))), it)
    assert line == "promkit: docker not found on PATH: install it (see README.md) and try again"


def test_missing_compose_plugin(
    local_env: Callable[..., dict[str, str]], it: Any, tmp_path: Path
) -> None:
    # The plugin is found in $DOCKER_CONFIG/cli-plugins (.ci/run installs it in
    # ~/.docker/cli-plugins) or in system folders, which an empty DOCKER_CONFIG cannot hide.
    hidden = run(
        ["docker", "compose", "version"], env={**os.environ, "DOCKER_CONFIG": str(tmp_path)}
    )
    assert hidden.returncode != 0, "compose is installed system-wide: this test cannot hide it"
    line = one_clean_line(it.inv("deploy.local", env=local_env(DOCKER_CONFIG=str(tmp_path))), it)
    assert line.startswith(
        "promkit: Docker Compose v2 is missing (`docker compose version` failed)"
    )


@pytest.mark.parametrize("task", ["deploy.local", "destroy.local", "reload.local"])
def test_docker_engine_not_running(
    task: str, local_env: Callable[..., dict[str, str]], it: Any, tmp_path: Path
) -> None:
    socket_path = tmp_path / "docker.sock"
    line = one_clean_line(it.inv(task, env=local_env(DOCKER_HOST=f"unix://{socket_path}")), it)
    assert line.startswith("promkit: the Docker engine is not reachable (Cannot connect to the ")
    assert str(socket_path) in line
    assert line.endswith("): start dockerd and retry")


# -- settings files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "prometheus:\n  url: [unclosed\n",
            "is not valid YAML: expected ',' or ']', but got '<stream end>' at line 3, column 1",
        ),
        ("expect: 5\n", ": 'expect' must be a mapping (of jobs, scrape_interval,"),
        ("compose:\n  project: {a: 1}\n", ": 'compose.project' must be a single value like"),
    ],
)
@pytest.mark.parametrize("task", ["verify.health", "deploy.local"])
def test_malformed_settings_file(
    text: str,
    message: str,
    task: str,
    local_env: Callable[..., dict[str, str]],
    it: Any,
    tmp_path: Path,
) -> None:
    settings = tmp_path / "bad.yaml"
    settings.write_text(text)
    line = one_clean_line(it.inv("-f", str(settings), task, env=local_env()), it)
    assert line.startswith(f"promkit: settings file {settings}")
    assert message in line


def test_missing_settings_file_is_not_silently_ignored(it: Any, tmp_path: Path) -> None:
    missing = tmp_path / "typo.yaml"
    line = one_clean_line(it.inv("-f", str(missing), "verify.health"), it)
    assert line == f"promkit: settings file {missing} (inv -f) does not exist: check the path"


def test_wrong_value_type_inside_a_section(it: Any, tmp_path: Path) -> None:
    settings = tmp_path / "bad.yaml"
    settings.write_text("prometheus:\n  timeout: soon\n")
    line = one_clean_line(it.inv("-f", str(settings), "verify.health"), it)
    assert line == "promkit: setting 'prometheus.timeout' must be a number, got 'soon'"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # Invoke casts to the default's type: int("soon") was a ValueError traceback.
        ("INVOKE_COMPOSE_WAIT_TIMEOUT", "soon", "which must be a whole number like 180"),
        # It casts, but no deploy waits 0 seconds: the settings model says so.
        ("INVOKE_COMPOSE_WAIT_TIMEOUT", "0", "'compose.wait_timeout' must be at least 1"),
        ("INVOKE_K8S_NAMESPACE", "Monitoring", "'k8s.namespace' must be a Kubernetes namespace"),
    ],
)
def test_bad_setting_from_the_environment(variable: str, value: str, message: str, it: Any) -> None:
    env = {**it.env(), variable: value}
    line = one_clean_line(it.inv("deploy.local", "--dry-run", env=env), it)
    assert line.startswith("promkit: ") and message in line


# -- the Prometheus URL and --wait ----------------------------------------------------------


def test_wrong_scheme(it: Any) -> None:
    line = one_clean_line(it.inv("verify.targets", "--url", "ftp://127.0.0.1:9090"), it)
    assert line == (
        "promkit: prometheus.url 'ftp://127.0.0.1:9090' is not an http(s) URL: "
        "pass e.g. --url http://127.0.0.1:9090"
    )


@pytest.mark.parametrize("wait", ["100000", "soon", "nan", "inf", "-0.5"])
def test_absurd_wait(wait: str, it: Any) -> None:
    url = f"http://127.0.0.1:{it.free_port()}"
    line = one_clean_line(it.inv("verify.health", "--url", url, "--wait", wait), it)
    assert line.startswith("promkit: --wait must be ")
    assert repr(wait) in line


@pytest.fixture
def plain_http() -> Iterator[int]:
    """A loopback HTTP server (no TLS) answering 200 to everything; yields its port."""
    with serving({"*": reply(200)}) as server:
        yield server.port


def test_tls_to_a_plain_http_port(plain_http: int, it: Any) -> None:
    line = one_clean_line(it.inv("verify.health", "--url", f"https://127.0.0.1:{plain_http}"), it)
    assert line.startswith(f"promkit: TLS with https://127.0.0.1:{plain_http}/")
    assert "set prometheus.ca_file to the CA bundle" in line


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[int]:
    """A loopback HTTPS server with a self-signed certificate (openssl); yields its port."""
    _, context = self_signed(tmp_path)
    body = json.dumps({"status": "success", "data": {}}).encode()
    with serving({"*": reply(200, body, Content_Type="application/json")}, tls=context) as server:
        yield server.port


def test_tls_certificate_not_trusted(self_signed_https: int, it: Any) -> None:
    url = f"https://127.0.0.1:{self_signed_https}"
    line = one_clean_line(it.inv("verify.retention", "--url", url), it)
    assert line.startswith(f"promkit: TLS with {url}/")
    assert "self-signed certificate" in line or "certificate verify failed" in line
