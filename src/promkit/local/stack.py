"""Deploy, inspect and remove the local docker compose stack.

Validation comes first and touches nothing running: the rule files the Prometheus
config loads must load (before any command runs), the compose file is rendered, the
project's own image must exist, and promtool checks the Prometheus config.
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

from promkit.core import console, promtool, runner, settings
from promkit.core.console import kept_data_line
from promkit.core.deadline import Deadline
from promkit.core.errors import ConfigError, PromkitError, ValidationError
from promkit.core.settings import repo_path, section
from promkit.local import auth, compose, images, ports
from promkit.local.images import image_exists
from promkit.rules import files as rules
from promkit.verify import client as prom

if TYPE_CHECKING:  # the HTTP client (requests) loads only when a task talks to Prometheus
    from promkit.verify.client import PrometheusClient
    from promkit.verify.result import Answer

#: Where the compose file mounts the Prometheus config folder.
CONFIG_MOUNT = "/etc/prometheus"
#: The variable compose.yaml takes that folder from (deploy.local always sets it).
CONFIG_DIR_VAR = "PROMKIT_PROMETHEUS_CONFIG_DIR"
#: The file Prometheus loads from that folder (compose.yaml's --config.file).
CONFIG_NAME = "prometheus.yml"
_LIFECYCLE_FLAG = "--web.enable-lifecycle"
#: The stack's own demo traffic (compose.yaml), and the variable that sets its rate.
DEMO_SERVICE = "demo-traffic"
DEMO_RATE_VAR = "PROMKIT_DEMO_TRAFFIC_RATE"
#: Webhooks a second the demo traffic may send at most (sample_app.demo_traffic.MAX_RATE).
#: Per service: the variable that moves its published port, and the setting naming its URL.
PORT_SETTINGS = {
    "prometheus": ("PROMKIT_PROMETHEUS_PORT", "prometheus.url"),
    "app": ("PROMKIT_APP_PORT", "compose.app_url"),
    "alertmanager-1": ("PROMKIT_ALERTMANAGER_PORT", "alerts.alertmanager_url"),
    "alertmanager-2": ("PROMKIT_ALERTMANAGER2_PORT", "nothing: verify reads alertmanager-1"),
    "alert-sink": ("PROMKIT_ALERT_SINK_PORT", "alerts.sink_url"),
}
#: The variable compose.yaml takes the Alertmanager config folder from, and the file the
#: peers load from it (deploy.local sets it to the folder of the setting alerts.config).
ALERTMANAGER_CONFIG_DIR_VAR = "PROMKIT_ALERTMANAGER_CONFIG_DIR"
ALERTMANAGER_CONFIG_NAME = "alertmanager.yml"


@dataclass(frozen=True)
class Plan:
    """What a deploy works on, once validated."""

    project: compose.Project
    images: dict[str, str]
    #: With basic auth: the Prometheus config to render, and a client with the credentials.
    config_file: Path | None = None
    ready_client: PrometheusClient | None = None
    #: ``--scale`` arguments of ``up`` (the demo traffic at 0 when it is off).
    scale: tuple[str, ...] = ()


def build_images(c: Context, config: Any, *, offline: bool, dry_run: bool = False) -> None:
    """Build (or pull) every image the stack runs, from package registries only if offline.

    ``offline`` (or the setting images.offline: true) builds them offline and points
    the project's env file at them; otherwise upstream images are pulled and the app's is
    built.
    """
    chosen_images = settings.load(config).images
    project = compose.Project.from_config(config)
    if offline or chosen_images.offline == "always":
        cache_dir = Path(chosen_images.cache_dir)
        chosen = images.build_offline(c, cache_dir, project.env_file, dry_run=dry_run)
        console.say("compose will use: " + ", ".join(chosen.values()))
        return
    images.forget_offline_images(project.env_file, dry_run=dry_run)
    # Ignore the env file: it may still name offline images during a dry run.
    model = compose.rendered_config(c, project, env_file="/dev/null")
    upstream = sorted(
        {img for img in compose.service_images(model).values() if img != images.APP_IMAGE}
    )
    images.build_online(c, upstream, dry_run=dry_run)


def prometheus_config(config: Any) -> Path:
    """The Prometheus config file the stack mounts (setting compose.prometheus_config)."""
    path = repo_path(str(section(config, "compose").get("prometheus_config")))
    if not path.is_file():
        raise ValidationError(
            f"Prometheus config {path} not found: check compose.prometheus_config"
        )
    return path


def validate(c: Context, config: Any, *, dry_run: bool = False) -> Plan:
    """Check the settings, the compose file, the ports, the images and the Prometheus config.

    Nothing running is touched: the ports must be free (or this stack's own), and
    missing images are pulled or built first. A dry run only says what it would build.
    """
    loaded = settings.load(config)
    rate = loaded.traffic.demo_rate
    project = project_with_env(config)
    check_rule_files(prometheus_config(config))
    project = replace(project, env={**project.env, DEMO_RATE_VAR: f"{rate or 1:g}"})
    compose.require_engine(c)
    model = compose.rendered_config(c, project, dry_run=dry_run)
    require_free_ports(c, project, model)
    found = compose.service_images(model)
    cache_dir = Path(loaded.images.cache_dir)
    mode = loaded.images.offline
    if images.ensure_images(c, found, mode, cache_dir, project.env_file, dry_run=dry_run) and (
        not dry_run
    ):
        found = compose.service_images(compose.rendered_config(c, project))
    config_file = prometheus_config(config)
    check_prometheus_config(c, config, config_file, found.get("prometheus", ""))
    scale = () if rate else (f"{DEMO_SERVICE}=0",)
    if not auth_enabled(project):
        return Plan(project, found, scale=scale)
    client = authenticated_client(config, project)
    return Plan(project, found, config_file, client, scale)


def check_rule_files(config_file: Path) -> None:
    """Every rule file ``config_file`` loads parses: else a RuleFileError naming file:line.

    A config that is not YAML names no rule files: promtool's check of it, which follows,
    names its error as for any other broken config.
    """
    try:
        paths = rules.rule_file_paths(config_file)
    except rules.ConfigNotYAML:
        return
    rules.check_rule_files(paths)


def require_free_ports(c: Context, project: compose.Project, model: dict[str, Any]) -> None:
    """Every port the stack publishes is free, or already this project's own."""
    for published in ports.published_ports(model):
        if not ports.in_use(published.host_ip, published.port):
            continue
        owner = container_publishing(c, published.port)
        if owner is not None and owner[0] == project.name:
            continue
        who = f"container {owner[1]}" if owner else ports.holder(published.port)
        variable, setting = PORT_SETTINGS.get(published.service, ("its port variable", "?"))
        raise PromkitError(
            f"port {published.address} of service {published.service} is already in use"
            f"{' by ' + who if who else ''}: stop that, or move this stack's port with "
            f"{variable}=<free port> (and {setting} to match); nothing was created"
        )


def container_publishing(c: Context, port: int) -> tuple[str, str] | None:
    """(compose project, container name) of a container publishing ``port``, if any."""
    fmt = '{{.Label "com.docker.compose.project"}}\t{{.Names}}'
    done = runner.run(
        c, ["docker", "ps", "--filter", f"publish={port}", "--format", fmt], check=False
    )
    for line in done.stdout.splitlines():
        project, _, name = line.partition("\t")
        if name:
            return project, name
    return None


def promtool_argv(c: Context, config: Any, config_file: Path, image: str) -> list[str]:
    """promtool from the Prometheus image when present (same version), else the one
    ``promtool.find`` picks (setting k8s.promtool, a Prometheus 3 build, PATH)."""
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
    try:
        return [promtool.find(config, image), "check", "config", str(config_file)]
    except promtool.PromtoolMissing:
        raise PromkitError(
            f"cannot check {config_file}: image {image or '?'} is not present and promtool is "
            "not on PATH; run `inv images.build` or install promtool"
        ) from None


def check_prometheus_config(
    c: Context, config: Any, config_file: Path, image: str, *, action: str = "deployed"
) -> None:
    """Run promtool on ``config_file``; a ValidationError with its reason if invalid."""
    done = runner.run(c, promtool_argv(c, config, config_file, image), check=False)
    if not done.ok:
        reason = promtool.reason(done.stderr + "\n" + done.stdout)
        raise ValidationError(f"{config_file} is invalid, nothing was {action}: {reason}")


def up(c: Context, plan: Plan, *, dry_run: bool = False) -> None:
    """Start or update the stack and wait until every service is healthy.

    A first deploy that fails is removed again (its data volume stays), so nothing
    is left half-up; a failed update of a running stack says what it left.
    """
    args = (
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        str(plan.project.wait_timeout),
        "--remove-orphans",
        *[arg for scale in plan.scale for arg in ("--scale", scale)],
    )
    if plan.config_file is not None and not dry_run:
        auth.render_config_dir(plan.config_file, auth_paths(plan.project))
    fresh = dry_run or not compose.ps(c, plan.project)
    done = compose.run(c, plan.project, *args, dry_run=dry_run, check=False, hide=False)
    if not done.ok:
        reason = explain_unhealthy(c, plan.project, done)
        raise PromkitError(f"{reason}; {clean_up_after_failure(c, plan.project, fresh)}")
    if plan.ready_client is not None and not dry_run:
        # Docker's healthcheck sees only 401 behind auth: readiness is proven here.
        wait_ready(plan.ready_client, plan.project.wait_timeout)


def clean_up_after_failure(c: Context, project: compose.Project, fresh: bool) -> str:
    """Remove what a failed first deploy created; else say what is left and how to remove it."""
    if fresh:
        down(c, project, volumes=False)
        return (
            "removed the containers and network it had created (the data volume stays: "
            "`inv destroy.local --volumes` removes it)"
        )
    left = ", ".join(f"{s.service} ({s.state})" for s in compose.ps(c, project)) or "nothing"
    return (
        f"the stack was running before and is left as it is now: {left}; "
        "`inv destroy.local` removes it"
    )


def explain_unhealthy(c: Context, project: compose.Project, done: runner.Completed) -> str:
    """One line naming the services that did not become healthy, after their log tails."""
    states = compose.ps(c, project)
    bad = [s for s in states if not s.healthy]
    for state in bad:
        console.say(f"--- last log lines of {state.service} ({state.state} {state.health}) ---")
        console.say(compose.logs_tail(c, project, state.service).rstrip())
    if not bad:
        return f"`docker compose up` failed: {runner.last_line(done.stderr) or 'see output above'}"
    names = ", ".join(f"{s.service} ({s.state}{' ' + s.health if s.health else ''})" for s in bad)
    return f"not healthy within {project.wait_timeout}s: {names} (see the log lines above)"


def down(c: Context, project: compose.Project, *, volumes: bool, dry_run: bool = False) -> None:
    """Stop and remove the stack's containers and network; its data volume only if asked."""
    args = ("down", "--remove-orphans", *(["--volumes"] if volumes else []))
    compose.run(c, project, *args, dry_run=dry_run, hide=False)


def destroy(c: Context, config: Any, *, volumes: bool, dry_run: bool = False) -> None:
    """Stop and remove the stack; its data volume and state folder stay unless ``volumes``.

    The state folder (compose.state_dir) holds the offline images' tags and the basic
    auth files: removed with the data, kept (and said so) with it.
    """
    project = compose.Project.from_config(config)
    compose.require_engine(c)
    down(c, project, volumes=volumes, dry_run=dry_run)
    if volumes:
        remove_state(project, dry_run=dry_run)
    elif not dry_run:
        console.say(kept_data_line(" volume"))


def remove_state(project: compose.Project, *, dry_run: bool = False) -> None:
    """Delete the project's state folder (and nothing else of compose.state_dir)."""
    if not project.state.exists():
        return
    if dry_run:
        console.say(f"[dry-run] remove {project.state}")
        return
    shutil.rmtree(project.state)
    console.say(f"removed {project.state} (the project's env file and basic auth files)")


# -- the mounted config folder, basic auth, reload -----------------------------------


def auth_enabled(project: compose.Project) -> bool:
    """Whether the project layers compose.auth.yaml (setting compose.auth)."""
    return any(path.name == compose.AUTH_FILE for path in project.overrides)


def auth_paths(project: compose.Project) -> auth.AuthPaths:
    """The project's basic auth files (<compose.state_dir>/<project>/auth/)."""
    return auth.AuthPaths(project.auth_dir)


def project_with_env(config: Any) -> compose.Project:
    """The compose project, with the config folder (and auth group) compose interpolates."""
    project = compose.Project.from_config(config)
    config_file = prometheus_config(config)
    if config_file.name != CONFIG_NAME:
        raise ConfigError(
            f"compose.prometheus_config must name a file called {CONFIG_NAME}, got "
            f"{config_file}: compose mounts its folder and Prometheus loads {CONFIG_NAME}"
        )
    project = replace(project, env={**project.env, **alertmanager_env(config)})
    if not auth_enabled(project):
        return replace(project, env={**project.env, CONFIG_DIR_VAR: str(config_file.parent)})
    paths = auth_paths(project)
    auth.require_web_config(paths)
    env = {**project.env, CONFIG_DIR_VAR: str(paths.config_dir), **auth.compose_env(paths)}
    return replace(project, env=env)


def addresses(loaded: settings.Settings) -> list[str]:
    """Where the deployed stack's services answer, one line each."""
    lines = [
        f"Prometheus UI and API: {loaded.prometheus.url}",
        f"Sample app:            {loaded.compose.app_url}",
        f"Alertmanager:          {loaded.alerts.alertmanager_url} (alertmanager-1 of 2 peers)",
    ]
    if loaded.alerts.sink_url:
        lines.append(f"Alert sink:            {loaded.alerts.sink_url}/notifications")
    return lines


def alertmanager_env(config: Any) -> dict[str, str]:
    """The Alertmanager config folder compose mounts: that of the setting alerts.config."""
    config_file = repo_path(settings.load(config).alerts.config)
    if config_file.name != ALERTMANAGER_CONFIG_NAME:
        raise ConfigError(
            f"alerts.config must name a file called {ALERTMANAGER_CONFIG_NAME}, got "
            f"{config_file}: compose mounts its folder and Alertmanager loads "
            f"{ALERTMANAGER_CONFIG_NAME}"
        )
    if not config_file.is_file():
        raise ValidationError(f"Alertmanager config {config_file} not found: check alerts.config")
    return {ALERTMANAGER_CONFIG_DIR_VAR: str(config_file.parent)}


def write_basic_auth(config: Any, *, dry_run: bool = False) -> list[str]:
    """Write the web config for compose.auth from the password in the environment.

    Returns the lines to print: what was written (or, under ``dry_run``, would be)
    and what to do next.
    """
    user, password = auth.password_from_environment(settings.load(config).prometheus)
    paths = auth_paths(compose.Project.from_config(config))
    if dry_run:
        return [f"[dry-run] would write {paths.web_config} (user {user}) and {paths.self_password}"]
    written = auth.write_web_config(paths, user, password)
    lines = [
        f"wrote {written}: basic auth for user {user} (bcrypt hash; the password is not stored)"
    ]
    if not settings.load(config).compose.auth:
        lines.append("turn it on with the setting compose.auth: true (or INVOKE_COMPOSE_AUTH=1)")
    return [*lines, "then `inv deploy.local`; verify.* read the same environment variables"]


def authenticated_client(config: Any, project: compose.Project) -> PrometheusClient:
    """A client with the credentials web.yml accepts, or a ConfigError saying what to set."""

    client = prom.client_from_settings(settings.load(config).prometheus)
    auth.require_matching_credentials(auth_paths(project), client.credentials)
    return client


def wait_ready(client: PrometheusClient, timeout: float, poll_s: float = 0.5) -> None:
    """Poll ``/-/ready`` (with the client's credentials) until 200, at most ``timeout`` s."""
    from promkit.verify.client import NotReady, TimedOut, Unreachable

    deadline = Deadline(timeout)
    while True:
        try:
            answer = client.probe("/-/ready")
            last = f"/-/ready answered {answer.status}"
            if answer.status == 200:
                return
        except (NotReady, Unreachable, TimedOut) as exc:
            last = str(exc)
        if deadline.passed():
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
    check_rule_files(config_file)
    check_prometheus_config(c, config, config_file, images.get("prometheus", ""), action="reloaded")
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
