"""Check the Kubernetes manifests before anything is applied, offline.

``kubectl kustomize`` renders the kustomization; every object is validated
against the Kubernetes JSON schemas that kubernetes-validate ships; promtool checks
the Prometheus config and rule files carried by the rendered ConfigMap, laid out as the
Prometheus pod mounts them; and the hardening rules below turn each weakness into one
line naming the object, the container and the fix. A rule file that does not load stops
everything at once: one line naming the file it was generated from and the line.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from invoke.context import Context

from promkit.core import promtool, runner
from promkit.core.errors import ConfigError, ValidationError, refuse_listed
from promkit.core.settings import load, repo_path, section
from promkit.rules import files as rules

#: The ConfigMap key the Prometheus Deployment mounts as /etc/prometheus/prometheus.yml.
CONFIG_KEY = "prometheus.yml"
#: Kinds whose pods come from a template, and where that pod spec sits.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_EXPOSED_SERVICE_TYPES = ("LoadBalancer", "NodePort")
_MAX_MESSAGE = 240
_KLOG_ERROR = re.compile(r'^E\d{4} [^\]]*\] "command failed" err="(.*)"$')

Object = dict[str, Any]


@dataclass(frozen=True)
class Checked:
    """The rendered objects of a kustomization and every problem found in them."""

    kustomization: Path
    objects: list[Object]
    problems: list[str] = field(default_factory=list)


def kustomization_dir(config: Any) -> Path:
    """The kustomization folder (setting k8s.kustomization), checked to exist."""
    path = repo_path(str(section(config, "k8s").get("kustomization")))
    if not (path / "kustomization.yaml").is_file():
        raise ConfigError(f"no kustomization.yaml in {path}: check setting 'k8s.kustomization'")
    return path


def render(c: Context, kustomization: Path) -> list[Object]:
    """The objects ``kubectl kustomize`` builds from ``kustomization``."""
    done = runner.run(c, ["kubectl", "kustomize", str(kustomization)], check=False)
    if not done.ok:
        reason = runner.last_line(done.stderr) or runner.last_line(done.stdout)
        raise ValidationError(f"cannot render {kustomization}: {_without_klog(reason)}")
    try:
        objects = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    except yaml.YAMLError as exc:
        raise ValidationError(
            f"`kubectl kustomize {kustomization}` printed invalid YAML: {exc}"
        ) from None
    if not all(isinstance(obj, dict) for obj in objects):
        raise ValidationError(f"`kubectl kustomize {kustomization}` printed non-objects")
    return objects


def _without_klog(line: str) -> str:
    """kubectl's ``E1128 02:12:31 run.go:72] "command failed" err="WHY"`` -> ``WHY``."""
    match = _KLOG_ERROR.match(line)
    return match.group(1).replace('\\"', '"') if match else line


def describe(obj: Object) -> str:
    """``Kind namespace/name`` (or ``Kind name`` when cluster-scoped)."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "?")
    namespace = meta.get("namespace")
    return (
        f"{obj.get('kind', '?')} {namespace}/{name}" if namespace else f"{obj.get('kind')} {name}"
    )


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


# --- schemas -----------------------------------------------------------------------------


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def schema_problems(objects: list[Object], version: str) -> list[str]:
    """Each object checked against the Kubernetes ``version`` schema; unknown fields too."""
    import kubernetes_validate  # type: ignore[import-untyped]  # slow import: only here
    from kubernetes_validate import utils

    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except utils.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path) or "(top level)"
            problems.append(
                f"{describe(obj)}: {where}: {_shorten(exc.message)} (Kubernetes {version} schema)"
            )
        except utils.SchemaNotFoundError:
            problems.append(
                f"{describe(obj)}: no Kubernetes {version} schema for apiVersion "
                f"{obj.get('apiVersion')} kind {obj.get('kind')} (check both for typos)"
            )
        except utils.VersionNotSupportedError:
            raise ConfigError(
                f"setting 'k8s.kubernetes_version' is {version!r}, which kubernetes-validate "
                "has no schemas for: use a version such as 1.32"
            ) from None
    return problems


# --- the Prometheus config ---------------------------------------------------------------


def prometheus_configs(objects: list[Object]) -> dict[str, str]:
    """``ConfigMap namespace/name`` -> its prometheus.yml, for every ConfigMap carrying one."""
    return {
        describe(obj): str(obj["data"][CONFIG_KEY])
        for obj in objects
        if obj.get("kind") == "ConfigMap" and CONFIG_KEY in (obj.get("data") or {})
    }


@dataclass(frozen=True)
class ConfigFolder:
    """A Prometheus ConfigMap as the pod sees /etc/prometheus: path -> text."""

    owner: str  # "ConfigMap namespace/name"
    files: dict[str, str]
    #: Where each file came from: the ConfigMap key, and the file kustomize read, if found.
    sources: dict[str, str]
    #: The files its prometheus.yml's ``rule_files`` globs match.
    rule_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _config_volume_items(objects: list[Object], configmap: str) -> list[Object] | None:
    """The ``items`` of the Deployment volume of ``configmap``; None: every key, by name."""
    for obj, spec in _pod_specs(objects):
        if obj.get("kind") != "Deployment":
            continue
        for volume in spec.get("volumes") or []:
            source = volume.get("configMap") or {}
            if source.get("name") == configmap:
                items = source.get("items")
                return [i for i in items if isinstance(i, dict)] if items else None
    return None


def config_folders(objects: list[Object], kustomization: Path) -> list[ConfigFolder]:
    """Every ConfigMap carrying prometheus.yml, laid out as the Deployment mounts it."""
    generated = generator_sources(kustomization)
    folders = []
    for obj in objects:
        data = obj.get("data") or {}
        if obj.get("kind") != "ConfigMap" or CONFIG_KEY not in data:
            continue
        name = str((obj.get("metadata") or {}).get("name", ""))
        owner = describe(obj)
        paths, problems = _mounted_paths(owner, data, _config_volume_items(objects, name))
        files = {path: str(data[key]) for key, path in paths.items()}
        sources = {path: _source_name(generated, name, key, owner) for key, path in paths.items()}
        folders.append(ConfigFolder(owner, files, sources, _rule_paths(files), problems))
    return folders


def _mounted_paths(
    owner: str, data: dict[str, Any], items: list[Object] | None
) -> tuple[dict[str, str], list[str]]:
    """ConfigMap key -> the path the pod sees it at, and a line for each key or item amiss."""
    if items is None:
        return {key: key for key in data}, []
    wanted = {str(i.get("key")): str(i.get("path") or i.get("key")) for i in items}
    problems = [
        f"{owner}: key {key} is not mounted by the Deployment's config volume (add an "
        f"item for it, e.g. path rules/{key})"
        for key in data
        if key not in wanted
    ]
    problems += [
        f"{owner}: the Deployment mounts key {key}, which the ConfigMap does not carry"
        for key in wanted
        if key not in data
    ]
    # Kubernetes refuses such paths; never write outside the temporary folder either.
    unsafe = {k for k, p in wanted.items() if p.startswith("/") or ".." in p.split("/")}
    problems += [f"{owner}: key {key} is mounted at {wanted[key]!r}" for key in sorted(unsafe)]
    return {k: p for k, p in wanted.items() if k in data and k not in unsafe}, problems


def _source_name(
    generated: dict[tuple[str, str], Path], configmap: str, key: str, owner: str
) -> str:
    for (generator, generated_key), path in generated.items():
        if generated_key == key and generator in configmap:
            return str(path)
    return f"{owner} key {key}"


def generator_sources(kustomization: Path) -> dict[tuple[str, str], Path]:
    """(configMapGenerator name, key) -> the file it reads, in ``kustomization``'s tree."""
    found: dict[tuple[str, str], Path] = {}
    seen: set[Path] = set()
    todo = [kustomization.resolve()]
    while todo:
        folder = todo.pop()
        if folder in seen or not (folder / "kustomization.yaml").is_file():
            continue
        seen.add(folder)
        try:
            spec = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue  # kubectl kustomize already rendered it: nothing to name then
        for generator in spec.get("configMapGenerator") or []:
            for entry in generator.get("files") or []:
                key, _, file = str(entry).rpartition("=")
                found[(str(generator.get("name")), key or Path(file).name)] = folder / file
        todo += [(folder / str(r)).resolve() for r in spec.get("resources") or []]
    return found


def check_rule_files(folders: list[ConfigFolder]) -> None:
    """A RuleFileError (one line: source file and line) for a carried rule file that does
    not load."""
    for folder in folders:
        for path in folder.rule_files:
            rules.load_rule_text(Path(folder.sources[path]), folder.files[path])


def _rule_paths(files: dict[str, str]) -> list[str]:
    """The ``files`` (path -> text) that prometheus.yml's ``rule_files`` globs match."""
    with tempfile.TemporaryDirectory(prefix="promkit-config-") as tmp:
        root = _write_folder(Path(tmp), files)
        try:
            matched = rules.rule_file_paths(root / CONFIG_KEY)
        except ValidationError:
            return []  # not YAML: `promtool check config` names the problem
        return [path.relative_to(root).as_posix() for path in matched]


def _write_folder(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def _unloaded_problems(folder: ConfigFolder) -> list[str]:
    """Rule files mounted but not loaded, and those beside the config's source file that its
    ``rule_files`` would load there but the ConfigMap does not carry."""
    problems = [
        f"{folder.owner}: {path} is mounted but {CONFIG_KEY}'s rule_files does not load it"
        for path in folder.files
        if path not in folder.rule_files and (path.startswith("rules/") or ".rules." in path)
    ]
    source = Path(folder.sources.get(CONFIG_KEY, ""))
    if not source.is_file():
        return problems  # not generated from a file promkit found: nothing to compare
    carried = {str(Path(s).resolve()) for s in folder.sources.values()}
    return problems + [
        f"{folder.owner}: {path} is loaded by {source.name}'s rule_files beside it but the "
        "ConfigMap does not carry it (add it to the configMapGenerator and the Deployment's "
        "config volume)"
        for path in rules.rule_file_paths(source)
        if str(path.resolve()) not in carried
    ]


def prometheus_image(objects: list[Object]) -> str:
    """The image of the ``prometheus`` container, or empty if there is none."""
    for obj, container in _containers(objects):
        if obj.get("kind") == "Deployment" and container.get("name") == "prometheus":
            return str(container.get("image", ""))
    return ""


def promtool_problems(c: Context, tool: str, folders: list[ConfigFolder]) -> list[str]:
    """``promtool check config`` on each rendered config, ``promtool check rules`` on the
    rule files it loads: written to a temporary folder as the pod mounts them."""
    if not folders:
        return [f"no ConfigMap carries {CONFIG_KEY}: the Prometheus Deployment has no config"]
    problems = []
    for folder in folders:
        with tempfile.TemporaryDirectory(prefix="promkit-config-") as tmp:
            problems += folder.problems + _folder_problems(c, tool, folder, Path(tmp))
    return problems


def _folder_problems(c: Context, tool: str, folder: ConfigFolder, root: Path) -> list[str]:
    _write_folder(root, folder.files)
    # --syntax-only: the rule files get their own run (one problem line each, not two), and
    # files from other volumes (secrets) are not in this folder.
    config = [tool, "check", "config", "--syntax-only", str(root / CONFIG_KEY)]
    problems = _promtool_problem(c, config, f"{CONFIG_KEY} is", root, folder.owner)
    if not problems:  # else which files it loads is unknown: no cascade of lines
        problems = _unloaded_problems(folder)
    if folder.rule_files:
        loaded = folder.rule_files
        argv = [tool, "check", "rules", *(str(root / path) for path in loaded)]
        what = f"rule files {', '.join(loaded)} are"
        problems += _promtool_problem(c, argv, what, root, folder.owner)
    return problems


def _promtool_problem(c: Context, argv: list[str], what: str, root: Path, owner: str) -> list[str]:
    """``OWNER: WHAT invalid: REASON`` if promtool ``argv`` (on files in ``root``) fails."""
    done = runner.run(c, argv, check=False)
    if done.ok:
        return []
    output = done.stdout + "\n" + done.stderr
    promtool.require_kubernetes_discovery(output, argv[0])
    reason = _shorten(promtool.reason(output))
    return [f"{owner}: {what} invalid: {reason.replace(str(root), '.')}"]


# --- hardening ---------------------------------------------------------------------------


def _pod_specs(objects: list[Object]) -> Iterator[tuple[Object, Object]]:
    for obj in objects:
        path = _POD_SPEC_PATHS.get(str(obj.get("kind")))
        spec = _dig(obj, path) if path else None
        if isinstance(spec, dict):
            yield obj, spec


def _containers(objects: list[Object]) -> Iterator[tuple[Object, Object]]:
    for obj, spec in _pod_specs(objects):
        for container in spec.get("containers") or []:
            yield obj, container


def image_is_pinned(image: str) -> bool:
    """Whether ``image`` names a digest or a version tag (not ``latest``, not missing)."""
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return bool(tag) and tag != "latest"


def _effective(key: str, container: Object, pod: Object) -> Any:
    """A securityContext field: the container's, else the pod's."""
    value = (container.get("securityContext") or {}).get(key)
    return value if value is not None else (pod.get("securityContext") or {}).get(key)


def _resource_problems(container: Object) -> list[str]:
    resources = container.get("resources") or {}
    missing = [
        f"resources.{kind}.{name}"
        for kind in ("requests", "limits")
        for name in ("cpu", "memory")
        if name not in (resources.get(kind) or {})
    ]
    if not missing:
        return []
    return [f"no {', '.join(missing)} (set requests and limits for cpu and memory)"]


def _security_problems(container: Object, pod: Object) -> list[str]:
    own = container.get("securityContext") or {}
    problems = []
    if _effective("runAsNonRoot", container, pod) is not True:
        problems.append("may run as root: set securityContext.runAsNonRoot: true")
    user = _effective("runAsUser", container, pod)
    if user is None or user == 0:
        problems.append(
            f"securityContext.runAsUser is {'0 (root)' if user == 0 else 'not set'}: "
            "set a non-zero UID"
        )
    if own.get("privileged") is True:
        problems.append("is privileged: remove securityContext.privileged")
    if own.get("readOnlyRootFilesystem") is not True:
        problems.append(
            "root filesystem is writable: set securityContext.readOnlyRootFilesystem: true"
        )
    if own.get("allowPrivilegeEscalation") is not False:
        problems.append("may gain privileges: set securityContext.allowPrivilegeEscalation: false")
    if "ALL" not in ((own.get("capabilities") or {}).get("drop") or []):
        problems.append("keeps Linux capabilities: set securityContext.capabilities.drop: [ALL]")
    seccomp = (_effective("seccompProfile", container, pod) or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(
            "no seccomp profile: set securityContext.seccompProfile.type: RuntimeDefault"
        )
    return problems


def container_problems(container: Object, pod: Object, *, init: bool = False) -> list[str]:
    """Every hardening rule ``container`` (of pod spec ``pod``) breaks, one line each."""
    image = str(container.get("image", ""))
    problems = []
    if not image_is_pinned(image):
        problems.append(f"image {image or '(none)'} is not pinned (use a version tag or digest)")
    problems += _resource_problems(container)
    problems += _security_problems(container, pod)
    if not init:
        for probe in ("livenessProbe", "readinessProbe"):
            if not container.get(probe):
                problems.append(f"no {probe}: add one so Kubernetes knows when it is healthy")
    return problems


def _service_problems(obj: Object, allow_exposed: bool) -> list[str]:
    kind = _dig(obj, ("spec", "type")) or "ClusterIP"
    if allow_exposed or kind not in _EXPOSED_SERVICE_TYPES:
        return []
    return [
        f"{describe(obj)}: type {kind} exposes it outside the cluster (use ClusterIP and "
        "`inv k8s.port-forward`, or set k8s.allow_exposed_services)"
    ]


def hardening_problems(objects: list[Object], *, allow_exposed_services: bool = False) -> list[str]:
    """Every hardening rule the objects break, one line naming object, container and fix."""
    problems = []
    for obj, spec in _pod_specs(objects):
        for key, init in (("initContainers", True), ("containers", False)):
            for container in spec.get(key) or []:
                where = f"{describe(obj)} container {container.get('name', '?')}"
                problems += [
                    f"{where}: {problem}"
                    for problem in container_problems(container, spec, init=init)
                ]
    for obj in objects:
        if obj.get("kind") == "Service":
            problems += _service_problems(obj, allow_exposed_services)
    return problems


# --- all of it ---------------------------------------------------------------------------


def check(c: Context, config: Any) -> Checked:
    """Render the kustomization and collect schema, promtool and hardening problems."""
    k8s = load(config).k8s
    kustomization = kustomization_dir(config)
    objects = render(c, kustomization)
    folders = config_folders(objects, kustomization)
    check_rule_files(folders)  # a broken rule file: its one line, before anything else
    problems = schema_problems(objects, k8s.kubernetes_version)
    tool = promtool.find(config, prometheus_image(objects))
    problems += promtool_problems(c, tool, folders)
    problems += hardening_problems(objects, allow_exposed_services=k8s.allow_exposed_services)
    return Checked(kustomization, objects, problems)


def validate(c: Context, config: Any) -> Checked:
    """``check``, printing each problem on its own line; a ValidationError if there are any."""
    checked = check(c, config)
    refuse_listed(checked.problems, f"{checked.kustomization} has", "inv check.manifests")
    return checked


# --- what a deploy works on --------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A Deployment to wait for, and the selector of its pods."""

    namespace: str
    name: str
    selector: str


def namespaces(objects: list[Object]) -> list[str]:
    """Names of the Namespace objects, in render order (kustomize puts them first)."""
    return [str(obj["metadata"]["name"]) for obj in objects if obj.get("kind") == "Namespace"]


def deployments(objects: list[Object]) -> list[Workload]:
    """Every Deployment with the label selector of its pods."""
    workloads = []
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        labels = _dig(obj, ("spec", "selector", "matchLabels")) or {}
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        meta = obj["metadata"]
        workloads.append(Workload(str(meta.get("namespace", "default")), meta["name"], selector))
    return workloads


def volume_namespaces(objects: list[Object]) -> list[str]:
    """Namespaces holding a PersistentVolumeClaim (deleting them would delete the data)."""
    found = {
        str(obj["metadata"].get("namespace", "default"))
        for obj in objects
        if obj.get("kind") == "PersistentVolumeClaim"
    }
    return sorted(found)


def resource_types(objects: list[Object], *, volumes: bool) -> list[str]:
    """kubectl resource names (``deployment.apps``) of the kinds rendered, sorted.

    Namespaces are left out (they are deleted by name), PersistentVolumeClaims unless
    ``volumes``.
    """
    skipped = {"Namespace"} | (set() if volumes else {"PersistentVolumeClaim"})
    types = set()
    for obj in objects:
        kind = str(obj.get("kind"))
        if kind in skipped:
            continue
        group = str(obj.get("apiVersion", "v1")).rpartition("/")[0]
        types.add(f"{kind.lower()}.{group}" if group else kind.lower())
    return sorted(types)
