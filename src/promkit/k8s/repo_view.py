"""What the repo gives the cluster's Prometheus, for verify.drift --context: the
rendered kustomization's mounted ConfigMap files and the Deployment's args.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from invoke.context import Context

from promkit.core.console import shown
from promkit.core.errors import ValidationError
from promkit.core.settings import load
from promkit.k8s import kubectl as kube
from promkit.k8s import manifests
from promkit.k8s import port_forward as forwarding
from promkit.rules import files as rules
from promkit.verify import client as prom
from promkit.verify import drift
from promkit.verify import round as rounds
from promkit.verify.drift import RepoView, parse_config_text
from promkit.verify.round import Drift

#: The container Prometheus runs in, in the Deployment.
SERVICE = "prometheus"


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


def drift_cluster(c: Context, context: str, url: str | None = None) -> Drift:
    """The rendered kustomization against the cluster's Prometheus (through a port-forward
    to svc/prometheus, or at ``url``)."""

    checked = kube.require_context(c, context)
    repo = k8s_repo(c, c.config)
    loaded = load(c.config)
    if url:
        return rounds.compare(repo, prom.client_from_settings(loaded.prometheus, url))
    with forwarding.kept_port_forward(c, checked, loaded.k8s.namespace) as forward:
        client = prom.client_from_settings(loaded.prometheus, forward.url)
        return rounds.compare(repo, client)
