"""Both sides of verify.drift: the repo's rendered view and the server's answers.

Locally the repo side is what compose mounts and passes: the file of the setting
compose.prometheus_config (with the self-scrape credentials compose.auth adds), the
rule files it loads, and the prometheus service's command in the rendered compose
model. On Kubernetes it is what the rendered Prometheus Deployment mounts from its
ConfigMaps (its --config.file, and the files its rule_files globs match there) and
its container's args. The comparison itself is promkit.drift's.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from invoke.context import Context

from promkit import auth, checks, compose, drift, local_stack, manifests, rules, settings
from promkit.drift import RepoView, ServerView
from promkit.errors import ValidationError
from promkit.prom import PrometheusClient

#: The container Prometheus runs in, in compose and in the Deployment.
SERVICE = "prometheus"


@dataclass(frozen=True)
class Drift:
    """What verify.drift found: the repo view compared, and each difference."""

    repo: RepoView
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences

    def text(self) -> str:
        """One line per difference, or ``server matches`` and what was compared."""
        return drift.verdict(self.repo, self.differences)


def shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_config_text(where: str, text: str) -> Mapping[str, Any]:
    """A Prometheus config's text as a mapping; a ValidationError naming ``where``."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"Prometheus config {where} is not YAML: {exc}") from None
    if not isinstance(config, Mapping):
        raise ValidationError(f"Prometheus config {where} is not a mapping of settings")
    return config


# --- the repo side, local ----------------------------------------------------------------


def compose_command(model: Mapping[str, Any]) -> tuple[str, ...]:
    """The prometheus service's command in a rendered compose model."""
    service = (model.get("services") or {}).get(SERVICE)
    if not isinstance(service, Mapping):
        raise ValidationError(f"the compose file has no service {SERVICE}")
    command = service.get("command") or []
    words = shlex.split(command) if isinstance(command, str) else command
    return tuple(str(word) for word in words)


def local_repo(c: Context, config: Any) -> RepoView:
    """What deploy.local gives Prometheus: the mounted config, its rule files, its command."""
    project = local_stack.project_with_env(config)
    config_file = local_stack.prometheus_config(config)
    try:
        text = config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read Prometheus config {config_file}: {exc}") from None
    parsed = parse_config_text(str(config_file), text)
    if local_stack.auth_enabled(project):
        parsed, _ = auth.with_self_scrape_auth(parsed)
    groups = rules.repo_groups(config_file)
    command = compose_command(compose.rendered_config(c, project))
    files = [config_file, *rules.rule_file_paths(config_file), project.file, *project.overrides]
    return RepoView(parsed, command, groups, tuple(shown(path) for path in files))


# --- the repo side, Kubernetes -----------------------------------------------------------


def prometheus_container(objects: list[manifests.Object]) -> tuple[manifests.Object, Any]:
    """The Deployment running the ``prometheus`` container, and that container."""
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in spec.get("containers") or []:
            if container.get("name") == SERVICE:
                return obj, container
    raise ValidationError(f"no Deployment in the kustomization runs a container {SERVICE}")


def _configmaps(objects: list[manifests.Object], namespace: str) -> dict[str, manifests.Object]:
    return {
        str(obj["metadata"]["name"]): obj
        for obj in objects
        if obj.get("kind") == "ConfigMap"
        and (obj["metadata"].get("namespace") or "default") == namespace
    }


def _volume_files(volume: Mapping[str, Any], configmap: manifests.Object) -> list[tuple[str, str]]:
    """(key, path in the volume) of each ConfigMap key the volume shows."""
    data = configmap.get("data") or {}
    items = (volume.get("configMap") or {}).get("items")
    pairs = [(str(i["key"]), str(i["path"])) for i in items] if items else [(k, k) for k in data]
    return [(key, path) for key, path in pairs if key in data]


def mounted_files(
    objects: list[manifests.Object], deployment: manifests.Object, container: Any
) -> dict[str, tuple[str, str]]:
    """Path in the container -> (``ConfigMap ns/name:key``, text) of every ConfigMap file
    the container mounts (items, subPath and all)."""
    namespace = str(deployment["metadata"].get("namespace") or "default")
    configmaps = _configmaps(objects, namespace)
    spec = deployment["spec"]["template"]["spec"]
    volumes = {str(v.get("name")): v for v in spec.get("volumes") or []}
    found: dict[str, tuple[str, str]] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(str(mount.get("name"))) or {}
        configmap = configmaps.get(str((volume.get("configMap") or {}).get("name")))
        if configmap is None:
            continue
        sub = mount.get("subPath")
        for key, path in _volume_files(volume, configmap):
            if sub and path != sub:
                continue
            where = str(mount["mountPath"]) if sub else posixpath.join(mount["mountPath"], path)
            owner = f"{manifests.describe(configmap)}:{key}"
            found[posixpath.normpath(where)] = (owner, str(configmap["data"][key]))
    return found


def _loaded_rule_files(
    config: Mapping[str, Any], config_path: str, files: Mapping[str, tuple[str, str]]
) -> list[str]:
    """The mounted paths the config's rule_files globs match (relative to its folder)."""
    folder = posixpath.dirname(config_path)
    patterns = [posixpath.join(folder, str(p)) for p in config.get("rule_files") or []]
    return sorted(path for path in files if any(PurePosixPath(path).match(p) for p in patterns))


def k8s_repo(c: Context, config: Any) -> RepoView:
    """What deploy.k8s gives Prometheus: the ConfigMap files it mounts and its args."""
    kustomization = manifests.kustomization_dir(config)
    objects = manifests.render(c, kustomization)
    deployment, container = prometheus_container(objects)
    args = tuple(str(arg) for arg in container.get("args") or [])
    config_path = drift.parse_args(args).get("config.file")
    where = f"{manifests.describe(deployment)} container {SERVICE}"
    if not config_path:
        raise ValidationError(f"{where} passes no --config.file: which file is its config?")
    files = mounted_files(objects, deployment, container)
    if posixpath.normpath(config_path) not in files:
        raise ValidationError(f"{where}: --config.file={config_path} is in no ConfigMap it mounts")
    owner, text = files[posixpath.normpath(config_path)]
    parsed = parse_config_text(owner, text)
    loaded = _loaded_rule_files(parsed, config_path, files)
    groups = tuple(
        group
        for path in loaded
        for group in rules.load_rule_text(Path(files[path][0]), files[path][1])
    )
    compared = ", ".join([owner, *(files[path][0] for path in loaded)])
    source = f"{shown(kustomization)} ({compared}; {manifests.describe(deployment)} args)"
    return RepoView(parsed, args, groups, (source,))


# --- the server side, and both -----------------------------------------------------------


def server_view(client: PrometheusClient) -> ServerView:
    """The served config, flags, rules and runtime info, fetched concurrently."""
    from promkit.verify import fetch_all

    got = fetch_all(
        {
            "config": client.config_yaml,
            "flags": client.flags,
            "rules": client.rules,
            "runtimeinfo": client.runtimeinfo,
        }
    )
    if not isinstance(got["flags"], Mapping):
        raise checks.UnexpectedPayload("/api/v1/status/flags is not a mapping of flags")
    return ServerView(
        checks.parse_config(got["config"]), got["flags"], got["rules"], got["runtimeinfo"]
    )


def compare(repo: RepoView, client: PrometheusClient) -> Drift:
    """What the server behind ``client`` runs, against ``repo``."""
    return Drift(repo, drift.differences(repo, server_view(client)))


def drift_local(c: Context, url: str | None = None) -> Drift:
    """The compose stack's repo files against the server at ``url`` (default prometheus.url)."""
    from promkit import prom

    repo = local_repo(c, c.config)
    return compare(repo, prom.client_from_settings(settings.load(c.config).prometheus, url))
