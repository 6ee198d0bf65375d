"""reload.local and the config folder deploy.local mounts: the exact commands, the verdicts.

Docker is a MockContext; Prometheus a real loopback server answering what 2.42 answered
(a rejected reload: HTTP 500, ``reloadConfigSuccess: false``, the reason in its log).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit

from promkit.core.errors import ConfigError, PromkitError, ValidationError
from promkit.core.settings import data_path
from promkit.local import compose
from promkit.local import stack as local_stack
from promkit.local.images import APP_IMAGE
from promkit.tasks import deploy, reload
from promkit.verify.client import PrometheusClient
from promkit.verify.result import Answer
from tests.support.loopback import Seen, Server, reply, serving
from tests.support.mockctx import COMPOSE, UNIT_STATE_DIR, commands, result

PROM_IMAGE = "prom/prometheus:v3.16.0"
MODEL = json.dumps({"services": {"prometheus": {"image": PROM_IMAGE}, "app": {"image": APP_IMAGE}}})
PS = json.dumps(
    {"Service": "prometheus", "Name": "promkit-prometheus-1", "State": "running", "Health": ""}
)
CONFIG_DIR = data_path("config/prometheus")
# What Prometheus 2.42 logs when it rejects a reload (compose logs prefix included).
REJECTED_LOG = (
    'prometheus-1  | ts=2026-11-28T02:49:23.009Z caller=main.go:1218 level=error msg="Failed to '
    'apply configuration" err="duplicate remote write configs are not allowed, found duplicate '
    'for URL: http://127.0.0.1:1/write"\n'
    'prometheus-1  | ts=2026-11-28T02:49:23.009Z caller=main.go:936 level=error msg="Error '
    'reloading config" err="one or more errors occurred while applying the new configuration '
    '(--config.file=\\"/etc/prometheus/prometheus.yml\\")"\n'
)
Build = Callable[..., MockContext]


def inspect(source: Path = CONFIG_DIR, lifecycle: bool = True) -> str:
    args = ["--config.file=/etc/prometheus/prometheus.yml"]
    args += ["--web.enable-lifecycle"] if lifecycle else []
    mounts = [{"Destination": "/etc/prometheus", "Source": str(source)}]
    return json.dumps([{"Args": args, "Mounts": mounts}])


def docker(**overrides: object) -> dict[str, object]:
    responses: dict[str, object] = dict(overrides)
    for pattern, value in {
        r"docker compose version --short": result("2.40.3"),
        r"docker info --format": result("20.10.24"),
        rf"{COMPOSE} config --format json": result(MODEL),
        r"docker image inspect ": result("[{}]"),
        r"docker run .*promtool": result(" SUCCESS: prometheus.yml is valid"),
        rf"{COMPOSE} ps --format json --all": result(PS),
        r"docker inspect promkit-prometheus-1": result(inspect()),
        rf"{COMPOSE} logs --no-color --tail 40 prometheus": result(REJECTED_LOG),
    }.items():
        responses.setdefault(pattern, value)
    return responses


Prometheus = Callable[..., tuple[PrometheusClient, list[Seen]]]


@pytest.fixture
def prometheus() -> Iterator[Prometheus]:
    """A loopback server answering /-/reload and runtimeinfo as 2.42 does: a client for it
    and the requests it got (``status``: the reload's; ``success``: reloadConfigSuccess)."""
    with ExitStack() as servers:

        def start(status: int = 200, success: bool = True) -> tuple[PrometheusClient, list[Seen]]:
            body = b"" if status == 200 else b"failed to reload config: one or more errors"
            runtime = {"reloadConfigSuccess": success, "lastConfigTime": "2026-11-28T02:55:23Z"}
            answer = json.dumps({"status": "success", "data": runtime}).encode()
            routes = {"/-/reload": reply(status, body), "*": reply(200, answer)}
            server: Server = servers.enter_context(serving(routes))
            client = PrometheusClient(server.url)
            return client, server.seen

        yield start


def test_reload_checks_with_promtool_then_posts_and_reads_the_outcome(
    mock_context: Build, prometheus: Prometheus
) -> None:
    c = mock_context(docker())
    client, seen = prometheus()
    line = local_stack.reload(c, c.config, client)
    assert line == (
        f"Prometheus reloaded {CONFIG_DIR}/prometheus.yml: configuration loaded at "
        "2026-11-28T02:55:23Z"
    )
    assert [f"{r.method} {r.path}" for r in seen] == [
        "POST /-/reload",
        "GET /api/v1/status/runtimeinfo",
    ]
    ran = commands(c)
    assert any("/bin/promtool" in cmd for cmd in ran)
    assert ran[-1] == "docker inspect promkit-prometheus-1"


def test_an_invalid_config_is_never_posted(mock_context: Build, prometheus: Prometheus) -> None:
    failing = result("  FAILED: parsing YAML file prometheus.yml: yaml: line 2", exited=1)
    c = mock_context(docker(**{r"docker run .*promtool": failing}))
    client, seen = prometheus()
    with pytest.raises(ValidationError, match=r"is invalid, nothing was reloaded: parsing YAML"):
        local_stack.reload(c, c.config, client)
    assert seen == []


def test_a_rule_file_that_does_not_parse_is_never_posted(
    mock_context: Build, prometheus: Prometheus, tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    shutil.copytree(CONFIG_DIR, folder)
    rule_file = folder / "rules/sample-service.rules.yml"
    rule_file.write_text(rule_file.read_text().replace("    rules:\n", "    rules:\n  - {\n", 1))
    c = mock_context(docker(), compose={"prometheus_config": str(folder / "prometheus.yml")})
    client, seen = prometheus()
    with pytest.raises(ValidationError, match=rf"^rule file {rule_file}:\d+: not YAML"):
        local_stack.reload(c, c.config, client)
    assert seen == []
    assert not any("promtool" in cmd or "docker inspect" in cmd for cmd in commands(c))


def test_a_rejected_reload_names_prometheus_reason(
    mock_context: Build, prometheus: Prometheus
) -> None:
    c = mock_context(docker())
    client, _ = prometheus(status=500, success=False)
    with pytest.raises(PromkitError) as caught:
        local_stack.reload(c, c.config, client)
    assert str(caught.value) == (
        f"Prometheus rejected {CONFIG_DIR}/prometheus.yml (HTTP 500, reloadConfigSuccess false): "
        "duplicate remote write configs are not allowed, found duplicate for URL: "
        "http://127.0.0.1:1/write; the last complete load is from 2026-11-28T02:55:23Z but "
        "parts of the new file may be in effect: fix it and run `inv reload.local` again"
    )


def test_reload_task_exits_2_with_one_line(mock_context: Build) -> None:
    c = mock_context(docker(**{rf"{COMPOSE} ps --format json --all": result("")}))
    with pytest.raises(Exit) as caught:
        reload.local(c)
    assert caught.value.code == 2
    assert caught.value.message == (
        "promkit: Prometheus of compose project promkit is not running: "
        "start it with `inv deploy.local`"
    )


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (inspect(Path("/elsewhere")), "mounts /elsewhere at /etc/prometheus, not"),
        (inspect(lifecycle=False), "was started without --web.enable-lifecycle"),
    ],
)
def test_a_container_that_cannot_reload_this_folder_says_to_deploy(
    mock_context: Build, prometheus: Prometheus, container: str, message: str
) -> None:
    c = mock_context(docker(**{r"docker inspect promkit-prometheus-1": result(container)}))
    client, seen = prometheus()
    with pytest.raises(PromkitError, match=message):
        local_stack.reload(c, c.config, client)
    assert seen == []


def test_reload_reason_from_a_3x_log_line() -> None:
    log = (
        'time=2026-11-28T02:49:23Z level=ERROR source=main.go:1100 msg="Failed to apply '
        'configuration" err="duplicate remote write configs are not allowed"\n'
    )
    assert local_stack.reload_failure_reason(log) == (
        "duplicate remote write configs are not allowed"
    )
    assert local_stack.reload_failure_reason(REJECTED_LOG).startswith("duplicate remote write")
    assert local_stack.reload_failure_reason("nothing here") == ""


def test_a_200_with_a_failed_reload_is_still_a_failure() -> None:
    answer = Answer("/-/reload", "http://h/-/reload", 200, 1.0, "", "")
    with pytest.raises(PromkitError, match="reloadConfigSuccess false"):
        local_stack.judge_reload(answer, {"reloadConfigSuccess": False}, "", Path("p.yml"))
    lifecycle_off = Answer("/-/reload", "u", 403, 1.0, "", "Lifecycle API is not enabled.")
    with pytest.raises(PromkitError, match=r"recreate it with --web\.enable-lifecycle"):
        local_stack.judge_reload(lifecycle_off, {}, "", Path("p.yml"))


def test_deploy_mounts_the_folder_of_the_configured_file(mock_context: Build) -> None:
    c = mock_context(docker(**{rf"{COMPOSE} up ": result()}))
    deploy.local(c)
    up = c.run.call_args_list[-1]  # type: ignore[attr-defined]
    assert up.args[0].startswith(f"{COMPOSE} up --detach --wait")
    assert up.kwargs["env"][local_stack.CONFIG_DIR_VAR] == str(CONFIG_DIR)


def test_the_config_file_must_be_called_prometheus_yml(mock_context: Build, tmp_path: Path) -> None:
    other = tmp_path / "other.yml"
    other.write_text("global: {}\n")
    c = mock_context({}, compose={"prometheus_config": str(other)})
    with pytest.raises(ConfigError, match=r"must name a file called prometheus\.yml"):
        local_stack.project_with_env(c.config)


def test_auth_layers_its_compose_file_and_needs_auth_local_first(
    mock_context: Build, tmp_path: Path
) -> None:
    c = mock_context({}, compose={"auth": True, "project": f"unit-{tmp_path.name}"})
    project = compose.Project.from_config(c.config)
    assert project.argv("ps")[4:6] == ["--file", str(data_path("compose") / compose.AUTH_FILE)]
    with pytest.raises(ConfigError, match=r"run `inv auth\.local` first"):
        local_stack.project_with_env(c.config)


def test_write_basic_auth_writes_the_hash_and_says_what_next(
    mock_context: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services: {}\n")
    c = mock_context({}, compose={"file": str(compose_file), "project": "unit"})
    monkeypatch.setenv("PROMKIT_PROMETHEUS_USERNAME", "ops")
    monkeypatch.setenv("PROMKIT_PROMETHEUS_PASSWORD", "s3cret-enough")
    web_config = UNIT_STATE_DIR / "unit" / "auth" / "web" / "web.yml"
    planned = local_stack.write_basic_auth(c.config, dry_run=True)
    assert planned[0].startswith(f"[dry-run] would write {web_config} (user ops) and ")
    assert not web_config.exists(), "a dry run writes nothing"
    lines = local_stack.write_basic_auth(c.config)
    assert lines[0].startswith(f"wrote {web_config}")
    assert "(bcrypt hash; the password is not stored)" in lines[0]
    assert "s3cret-enough" not in web_config.read_text()
    assert lines[1:] == [
        "turn it on with the setting compose.auth: true (or INVOKE_COMPOSE_AUTH=1)",
        "then `inv deploy.local`; verify.* read the same environment variables",
    ]
    assert commands(c) == []
