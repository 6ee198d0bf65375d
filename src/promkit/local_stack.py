"""Deploy, inspect and remove the local docker compose stack.

Validation comes first and touches nothing running: the compose file is rendered,
the project's own image must exist, and promtool checks the Prometheus config.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context

from promkit import auth, compose, runner
from promkit.errors import ConfigError, PromkitError, ValidationError
from promkit.images import APP_IMAGE, image_exists
from promkit.settings import repo_path, section

if TYPE_CHECKING:
    from promkit.prom import Answer, PrometheusClient

#: Where the compose file mounts the Prometheus config folder.
CONFIG_MOUNT = "/etc/prometheus"
#: The variable compose.yaml takes that folder from (deploy.local always sets it).
CONFIG_DIR_VAR = "PROMKIT_PROMETHEUS_CONFIG_DIR"
#: The file Prometheus loads from that folder (compose.yaml's --config.file).
CONFIG_NAME = "prometheus.yml"
_LIFECYCLE_FLAG = "--web.enable-lifecycle"


@dataclass(frozen=True)
class Plan:
    """What a deploy works on, once validated."""

    project: compose.Project
    images: dict[str, str]
    #: With basic auth: the Prometheus config to render, and a client with the credentials.
    config_file: Path | None = None
    ready_client: PrometheusClient | None = None


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
    project = project_with_env(config)
    compose.require_engine(c)
    images = compose.service_images(compose.rendered_config(c, project))
    require_project_images(c, images)
    config_file = prometheus_config(config)
    check_prometheus_config(c, config_file, images.get("prometheus", ""))
    if not auth_enabled(project):
        return Plan(project, images)
    client = authenticated_client(config, project)
    return Plan(project, images, config_file, client)


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


def check_prometheus_config(
    c: Context, config_file: Path, image: str, *, action: str = "deployed"
) -> None:
    """Run promtool on ``config_file``; a ValidationError with its reason if invalid."""
    done = runner.run(c, promtool_argv(c, config_file, image), check=False)
    if not done.ok:
        reason = promtool_reason(done.stderr + "\n" + done.stdout)
        raise ValidationError(f"{config_file} is invalid, nothing was {action}: {reason}")


def promtool_reason(output: str) -> str:
    """promtool's last error as one line, with the lines it continues on.

    ``FAILED: ...: yaml: unmarshal errors:`` is followed by the lines that name the
    field (``line 4: field scrape_intervall not found in type config.plain``).
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    marked = [i for i, line in enumerate(lines) if "FAILED" in line or "err" in line]
    if not marked:
        return runner.last_line(output)
    first = marked[-1]
    reason = [lines[first]]
    for line in lines[first + 1 :]:
        if not reason[-1].endswith(":"):
            break
        reason.append(line)
    return " ".join(reason)


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
    if plan.config_file is not None and not dry_run:
        auth.render_config_dir(plan.config_file, auth_paths(plan.project))
    done = runner.run(c, argv, dry_run=dry_run, check=False, hide=False, env=plan.project.env)
    if not done.ok:
        raise PromkitError(explain_unhealthy(c, plan.project, done))
    if plan.ready_client is not None and not dry_run:
        # Docker's healthcheck sees only 401 behind auth: readiness is proven here.
        wait_ready(plan.ready_client, plan.project.wait_timeout)


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


# -- the mounted config folder, basic auth, reload -----------------------------------


def auth_enabled(project: compose.Project) -> bool:
    """Whether the project layers compose.auth.yaml (setting compose.auth)."""
    return any(path.name == compose.AUTH_FILE for path in project.overrides)


def auth_paths(project: compose.Project) -> auth.AuthPaths:
    """The project's basic auth files (compose/.auth/<project>/)."""
    return auth.paths_for(project.file, project.name)


def project_with_env(config: Any) -> compose.Project:
    """The compose project, with the config folder (and auth group) compose interpolates."""
    project = compose.Project.from_config(config)
    config_file = prometheus_config(config)
    if config_file.name != CONFIG_NAME:
        raise ConfigError(
            f"compose.prometheus_config must name a file called {CONFIG_NAME}, got "
            f"{config_file}: compose mounts its folder and Prometheus loads {CONFIG_NAME}"
        )
    if not auth_enabled(project):
        return replace(project, env={CONFIG_DIR_VAR: str(config_file.parent)})
    paths = auth_paths(project)
    auth.require_web_config(paths)
    return replace(project, env={CONFIG_DIR_VAR: str(paths.config_dir), **auth.compose_env(paths)})


def authenticated_client(config: Any, project: compose.Project) -> PrometheusClient:
    """A client with the credentials web.yml accepts, or a ConfigError saying what to set."""
    from promkit import prom

    client = prom.client_from_settings(section(config, "prometheus"))
    auth.require_matching_credentials(auth_paths(project), client.credentials)
    return client


def wait_ready(client: PrometheusClient, timeout: float, poll_s: float = 0.5) -> None:
    """Poll ``/-/ready`` (with the client's credentials) until 200, at most ``timeout`` s."""
    from promkit.prom import NotReady, TimedOut, Unreachable

    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = client.probe("/-/ready")
            last = f"/-/ready answered {answer.status}"
            if answer.status == 200:
                return
        except (NotReady, Unreachable, TimedOut) as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise PromkitError(f"Prometheus was not ready within {timeout:g}s: {last}")
        time.sleep(poll_s)


def running_prometheus(c: Context, project: compose.Project) -> dict[str, Any]:
    """``docker inspect`` of the project's running Prometheus container."""
    running = [s for s in compose.ps(c, project) if s.service == "prometheus"]
    if not running or running[0].state != "running":
        raise PromkitError(
            f"Prometheus of compose project {project.name} is not running: "
            "start it with `inv deploy.local`"
        )
    done = runner.run(c, ["docker", "inspect", running[0].container])
    found = json.loads(done.stdout or "[]")
    if not found or not isinstance(found[0], dict):
        raise PromkitError(f"`docker inspect {running[0].container}` returned nothing")
    return dict(found[0])


def require_reloadable(container: dict[str, Any], config_dir: Path) -> None:
    """The container mounts ``config_dir`` and has the lifecycle API; else what to run."""
    mounts = {m.get("Destination"): m.get("Source") for m in container.get("Mounts") or []}
    source = mounts.get(CONFIG_MOUNT)
    if source is None or Path(source).resolve() != config_dir.resolve():
        raise PromkitError(
            f"the running Prometheus mounts {source or 'nothing'} at {CONFIG_MOUNT}, not "
            f"{config_dir}: run `inv deploy.local` (a reload re-reads only the mounted folder)"
        )
    if _LIFECYCLE_FLAG not in (container.get("Args") or []):
        raise PromkitError(
            f"the running Prometheus was started without {_LIFECYCLE_FLAG}: run "
            "`inv deploy.local` once to recreate it with compose.yaml's flags"
        )


_ERR = re.compile(r'err="((?:[^"\\]|\\.)*)"')


def reload_failure_reason(log: str) -> str:
    """Why Prometheus' last reload failed, from its log (the most specific error line)."""
    specific, generic = "", ""
    for line in log.splitlines():
        match = _ERR.search(line)
        if not match:
            continue
        reason = match.group(1).replace('\\"', '"')
        if "Failed to apply configuration" in line or "Error loading config" in line:
            specific = reason
        elif "reloading config" in line.lower():
            generic = reason
    return specific or generic


def judge_reload(answer: Answer, after: Any, reason: str, config_file: Path) -> str:
    """The line to print for a reload, or a PromkitError when Prometheus rejected it."""
    runtime = after if isinstance(after, dict) else {}
    loaded = runtime.get("lastConfigTime") or "?"
    if answer.status == 403 and "lifecycle" in answer.text.lower():
        raise PromkitError(
            f"Prometheus refused the reload ({answer.text.strip()}): run `inv deploy.local` "
            f"once to recreate it with {_LIFECYCLE_FLAG}"
        )
    if answer.status != 200 or runtime.get("reloadConfigSuccess") is not True:
        said = reason or " ".join(answer.text.split())[:300] or "no reason given"
        # Prometheus applies a reload component by component: the parts that succeeded
        # are in effect, so "still runs the old config" would not be true either.
        raise PromkitError(
            f"Prometheus rejected {config_file} (HTTP {answer.status}, reloadConfigSuccess "
            f"{str(runtime.get('reloadConfigSuccess')).lower()}): {said}; the last complete "
            f"load is from {loaded} but parts of the new file may be in effect: fix it and "
            "run `inv reload.local` again"
        )
    return f"Prometheus reloaded {config_file}: configuration loaded at {loaded}"


def reload(c: Context, config: Any, client: PrometheusClient) -> str:
    """Check the config with promtool, then have the running Prometheus re-read it."""
    project = project_with_env(config)
    compose.require_engine(c)
    images = compose.service_images(compose.rendered_config(c, project))
    config_file = prometheus_config(config)
    check_prometheus_config(c, config_file, images.get("prometheus", ""), action="reloaded")
    require_reloadable(running_prometheus(c, project), Path(project.env[CONFIG_DIR_VAR]))
    if auth_enabled(project):
        auth.require_matching_credentials(auth_paths(project), client.credentials)
        auth.render_config_dir(config_file, auth_paths(project))
    answer = client.post("/-/reload")
    after = client.runtimeinfo()
    reason = ""
    if answer.status != 200 or not (isinstance(after, dict) and after.get("reloadConfigSuccess")):
        reason = reload_failure_reason(compose.logs_tail(c, project, "prometheus", 40))
    return judge_reload(answer, after, reason, config_file)
