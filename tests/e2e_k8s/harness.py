"""A real, throwaway Kubernetes control plane on this machine, for the e2e_k8s tests.

kwokctl runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kwok
controller as local processes (binaries from ``scripts/build-kube.sh``). kwok plays the
kubelet: it marks pods Running and gives them IPs from the node's podCIDR, which the
harness puts inside 127.0.0.0/8. Where a kubelet would start a container, the harness
starts a real local process listening on the pod's IP::

    binaries = KubeBinaries.locate()                    # a clear error if not built
    with KwokCluster(binaries, workdir) as cluster:     # deleted on exit, even on failure
        run(c, ["inv", "deploy.k8s", "--context", cluster.context], env=cluster.env())
        apps = PodProcesses(cluster, "promkit-sample", [
            PodCommand("app=fastapi-app",
                       ["uvicorn", "sample_app.app:app", "--host", "{pod_ip}", "--port", "8000"],
                       env={"REDIS_URL": "redis://127.0.0.1:6390/0"}),
        ])
        with apps, ClusterPrometheus(cluster) as prometheus:
            prometheus.wait_ready()    # kubectl port-forward svc/prometheus now reaches it

``ClusterPrometheus`` runs the real Prometheus binary exactly as the cluster describes its
pod: the args of the Deployment's container, its volumes (the ConfigMap, the data claim,
the ServiceAccount token projected by admission) bind-mounted at their mountPaths in a
private mount namespace, its runAsUser/fsGroup, and KUBERNETES_SERVICE_HOST/PORT naming
the real API server, so kubernetes_sd discovery goes through real RBAC. Only the listen
address is overridden (to the pod's IP). Every process the harness starts is stopped when
its context exits; the cluster is deleted by ``KwokCluster.delete``.

Limits (what a real node would do and this one does not):
- No cluster DNS, ClusterIPs or Endpoints (Kubernetes rejects loopback endpoint IPs): a
  process reaches another by pod IP (give a launcher a callable env value), Prometheus
  discovers with ``role: pod``; ``kubectl port-forward svc/...`` works (kwok PortForward).
- kwok marks pods Running and Ready at once: probes, resources and readOnlyRootFilesystem
  are not enforced. Volumes are written when a process starts (no live ConfigMap updates:
  promkit's hash-suffixed ConfigMap rolls the Deployment instead); tokens last 1 h.
- Needs root (mount namespace, chroot). Pod processes die with the harness even on
  SIGKILL (parent-death signal); the control plane needs ``delete`` (the conftest also
  turns SIGTERM into KeyboardInterrupt so the teardown runs).
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
import yaml
from invoke.context import Context

from promkit.errors import PromkitError
from promkit.runner import Completed, last_line, run

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-kube.sh"
CACHE = Path(os.environ.get("PROMKIT_CACHE", "/var/cache/promkit"))
#: Prometheus 3.x from scripts/build-prometheus3.sh; PROMKIT_PROMETHEUS3_BIN overrides it.
DEFAULT_PROMETHEUS = Path(
    os.environ.get("PROMKIT_PROMETHEUS3_BIN", CACHE / "prometheus-3.16.0-ui" / "prometheus")
)
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kwokctl",
)
#: kwok's own stages (copied from its module by build-kube.sh): kwokctl's defaults plus
#: the volume stages, so PersistentVolumeClaims bind (through the kwok-volume class).
STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pvc-delete.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pv-delete.yaml",
)
STORAGE_CLASS = "volume/fast/storage-class.yaml"
#: Pod fields a container's env may reference through valueFrom.fieldRef.
_POD_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.podIP",
    "status.hostIP",
)

T = TypeVar("T")


class HarnessError(PromkitError):
    """The kwok harness could not do its job (missing binaries, a cluster that will not come up)."""


# --------------------------------------------------------------------------- commands


def _run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    check: bool = True,
) -> Completed:
    """Run a short command through promkit's runner (a fresh Invoke context: thread-safe)."""
    return run(Context(), argv, env=env, timeout=timeout, check=check)


def wait_until(
    what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5
) -> T:
    """Call ``probe`` until it returns something other than None; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = probe()
        except (PromkitError, httpx.HTTPError, OSError) as exc:
            value, last_error = None, f": last error: {exc}"
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise HarnessError(f"{what}: not within {timeout:g}s{last_error}")
        time.sleep(interval)


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class KubeBinaries:
    """The folder scripts/build-kube.sh fills: control plane binaries and kwok's stages."""

    folder: Path

    @classmethod
    def locate(cls) -> KubeBinaries:
        """The built binaries (PROMKIT_KUBE_DIR, else build-kube.sh's folder); fail if missing."""
        folder = os.environ.get("PROMKIT_KUBE_DIR") or _run([str(BUILD_SCRIPT), "path"]).stdout
        binaries = cls(Path(folder.strip()))
        missing = [name for name in BINARIES if not os.access(binaries.folder / name, os.X_OK)]
        missing += [name for name in STAGES if not (binaries.folder / "stages" / name).is_file()]
        if missing:
            raise HarnessError(
                f"kube binaries missing in {binaries.folder} ({', '.join(missing[:3])}...): "
                "run scripts/build-kube.sh first (cold build: about 8 minutes on 2 cores)"
            )
        return binaries

    def __getitem__(self, name: str) -> Path:
        return self.folder / name

    @property
    def kube_version(self) -> str:
        """The Kubernetes version the binaries were built from, e.g. ``v1.36.5``."""
        versions = dict(
            line.split("=", 1) for line in (self.folder / "versions.env").read_text().split()
        )
        return "v" + versions["KUBE_VERSION"]


# --------------------------------------------------------------------------- pods


@dataclass(frozen=True)
class Pod:
    """The parts of a pod the harness acts on, plus the raw object."""

    name: str
    namespace: str
    uid: str
    ip: str | None
    phase: str
    deleting: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Pod:
        meta, status = item["metadata"], item.get("status", {})
        return cls(
            meta["name"],
            meta["namespace"],
            meta["uid"],
            status.get("podIP"),
            status.get("phase", ""),
            "deletionTimestamp" in meta,
            item,
        )

    @property
    def running(self) -> bool:
        """Running, with an IP, and not being deleted: what a kubelet would keep running."""
        return self.phase == "Running" and bool(self.ip) and not self.deleting

    def container(self, name: str | None = None) -> Mapping[str, Any]:
        """The container called ``name`` (the first one if None)."""
        containers = self.raw["spec"]["containers"]
        for container in containers:
            if name is None or container["name"] == name:
                return dict(container)
        raise HarnessError(f"pod {self.namespace}/{self.name} has no container {name!r}")

    def container_ports(self, container: str | None = None) -> list[int]:
        return [int(port["containerPort"]) for port in self.container(container).get("ports", [])]

    def field(self, path: str) -> str:
        """A fieldRef value (``status.podIP``, ``metadata.name``...)."""
        if path not in _POD_FIELDS:
            raise HarnessError(f"pod {self.namespace}/{self.name}: fieldRef {path} not supported")
        section, key = path.split(".", 1)
        return str(self.raw.get(section, {}).get(key, ""))


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one pod's process."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path | None = None


class Launcher(Protocol):
    """Turns a Running pod into the process that plays its container."""

    @property
    def selector(self) -> str: ...

    @property
    def forward_ports(self) -> bool: ...

    def process_for(self, pod: Pod, cluster: KwokCluster, scratch: Path) -> ProcessSpec: ...


def container_env(
    pod: Pod, container: Mapping[str, Any], skip: Sequence[str] = ()
) -> dict[str, str]:
    """The container's env: literal values and pod fieldRefs (a clear error for the rest)."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if var["name"] in skip:
            continue
        if "value" in var or "valueFrom" not in var:
            env[var["name"]] = str(var.get("value", ""))
        elif "fieldRef" in var["valueFrom"]:
            env[var["name"]] = pod.field(var["valueFrom"]["fieldRef"]["fieldPath"])
        else:
            raise HarnessError(
                f"pod {pod.namespace}/{pod.name}: env {var['name']} uses "
                f"{', '.join(var['valueFrom'])}, which the harness does not resolve: "
                "give its value in the launcher's env"
            )
    return env


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced (other braces left alone)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def _fields(pod: Pod, container: str | None) -> dict[str, str]:
    ports = pod.container_ports(container)
    return {
        "pod_ip": pod.ip or "",
        "pod_name": pod.name,
        "namespace": pod.namespace,
        "port": str(ports[0]) if ports else "",
    }


#: An env value for a launcher: a template, or a function of the pod computed at each start
#: (e.g. ``lambda pod: f"redis://{redis.pods()[0].ip}:6379/0"``: there is no cluster DNS).
EnvValue = str | Callable[[Pod], str]


def _env_values(env: Mapping[str, EnvValue], pod: Pod, values: Mapping[str, str]) -> dict[str, str]:
    return {
        key: value(pod) if callable(value) else fill(value, values) for key, value in env.items()
    }


@dataclass(frozen=True)
class PodCommand:
    """Run each selected pod as a host process: ``argv`` and ``env`` are templates.

    ``{pod_ip}``, ``{pod_name}``, ``{namespace}`` and ``{port}`` (the container's first
    port) are filled in per pod. The process gets the host environment, then the
    container's env from the pod spec, then ``env`` (which wins).
    """

    selector: str
    argv: Sequence[str]
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    container: str | None = None
    cwd: Path | None = REPO
    forward_ports: bool = True

    def process_for(self, pod: Pod, cluster: KwokCluster, scratch: Path) -> ProcessSpec:
        values = _fields(pod, self.container)
        env = dict(os.environ)
        env.update(container_env(pod, pod.container(self.container), skip=list(self.env)))
        env.update(_env_values(self.env, pod, values))
        return ProcessSpec([fill(arg, values) for arg in self.argv], env, self.cwd)


# --------------------------------------------------------------------------- containers

#: Runs inside `unshare --mount`: an overlay of / as the root, each volume bind-mounted at
#: its mountPath, then chroot as the pod's user. The host's mounts never change. Paths are
#: created and resolved inside the new root (``in_root``): /var/run -> /run is an absolute
#: symlink, which followed from outside would lead back to the host's /run. Changing the
#: user clears the parent-death signal, so setpriv sets it again.
_SANDBOX_SH = r"""
set -eu
box=$1 userspec=$2 groups=$3 workdir=$4
shift 4
in_root() { chroot "$box/root" "$@"; }
mount -t tmpfs -o mode=0755 promkit-sandbox "$box"
mkdir "$box/upper" "$box/work" "$box/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$box/upper,workdir=$box/work" "$box/root"
for fs in /proc /dev /sys; do mount --rbind "$fs" "$box/root$fs"; done
while [ "$1" != -- ]; do
  target=$(in_root realpath -m -- "$2")
  if [ -d "$1" ]; then in_root mkdir -p -- "$target"
  else in_root mkdir -p -- "$(dirname -- "$target")"
    [ -e "$box/root$target" ] || : >"$box/root$target"; fi
  mount --bind "$1" "$box/root$target"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$box/root$target"; fi
  shift 3
done
shift
in_root mkdir -p -- "$workdir"
exec chroot ${groups:+--groups="$groups"} --userspec="$userspec" "$box/root" \
  setpriv --pdeathsig KILL -- env --chdir="$workdir" "$@"
"""


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted at ``target`` inside the sandbox."""

    source: Path
    target: str
    read_only: bool


def _write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(0o644)


def _select_items(
    data: Mapping[str, bytes], items: Sequence[Mapping[str, Any]] | None
) -> dict[str, bytes]:
    if not items:
        return dict(data)
    return {item["path"]: data[item["key"]] for item in items if item["key"] in data}


class VolumeMaker:
    """Materializes a pod's volumes in a host folder, as a kubelet would."""

    def __init__(self, cluster: KwokCluster, pod: Pod, folder: Path) -> None:
        self.cluster, self.pod, self.folder = cluster, pod, folder
        security = pod.raw["spec"].get("securityContext", {})
        self.fs_group: int | None = security.get("fsGroup")

    def mounts(self, container: Mapping[str, Any]) -> list[Mount]:
        volumes = {volume["name"]: volume for volume in self.pod.raw["spec"].get("volumes", [])}
        made: dict[str, tuple[Path, bool]] = {}
        mounts = []
        for mount in container.get("volumeMounts", []):
            name = mount["name"]
            if name not in made:
                made[name] = self._make(volumes[name])
            path, always_read_only = made[name]
            source = path / mount["subPath"] if mount.get("subPath") else path
            read_only = always_read_only or bool(mount.get("readOnly"))
            mounts.append(Mount(source, mount["mountPath"], read_only))
        return mounts

    def _make(self, volume: Mapping[str, Any]) -> tuple[Path, bool]:
        """The host folder for ``volume`` and whether it is always read-only."""
        kind = next((key for key in volume if key != "name"), "emptyDir")
        folder = self.folder / volume["name"]
        if kind == "persistentVolumeClaim":
            claim = volume[kind]["claimName"]
            folder = self.cluster.workdir / "claims" / self.pod.namespace / claim
            return self._writable(folder), bool(volume[kind].get("readOnly"))
        if kind == "emptyDir":
            return self._writable(folder), False
        if kind == "hostPath":
            return Path(volume[kind]["path"]), False
        files = self._files(kind, volume[kind])
        folder.mkdir(parents=True, exist_ok=True)
        _write_files(folder, files)
        return folder, True

    def _writable(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if self.fs_group is None:
            folder.chmod(0o777)
        else:
            os.chown(folder, -1, self.fs_group)
            folder.chmod(0o2775)
        return folder

    def _files(self, kind: str, source: Mapping[str, Any]) -> dict[str, bytes]:
        if kind == "configMap":
            return _select_items(
                self._config_map(source["name"], source.get("optional")), source.get("items")
            )
        if kind == "secret":
            name = source.get("secretName") or source["name"]
            return _select_items(self._secret(name, source.get("optional")), source.get("items"))
        if kind == "downwardAPI":
            return {
                item["path"]: self.pod.field(item["fieldRef"]["fieldPath"]).encode()
                for item in source.get("items", [])
            }
        if kind == "serviceAccountToken":
            return {source["path"]: self._token(source).encode()}
        if kind == "projected":
            files: dict[str, bytes] = {}
            for part in source.get("sources", []):
                ((part_kind, part_source),) = part.items()
                files.update(self._files(part_kind, part_source))
            return files
        raise HarnessError(
            f"pod {self.pod.namespace}/{self.pod.name}: volume type {kind} "
            "is not supported by the harness"
        )

    def _config_map(self, name: str, optional: bool | None) -> dict[str, bytes]:
        found = self.cluster.get_optional("configmap", name, "-n", self.pod.namespace)
        if found is None:
            if optional:
                return {}
            raise HarnessError(f"ConfigMap {self.pod.namespace}/{name} not found")
        data = {key: value.encode() for key, value in found.get("data", {}).items()}
        data.update(
            {key: base64.b64decode(value) for key, value in found.get("binaryData", {}).items()}
        )
        return data

    def _secret(self, name: str, optional: bool | None) -> dict[str, bytes]:
        found = self.cluster.get_optional("secret", name, "-n", self.pod.namespace)
        if found is None:
            if optional:
                return {}
            raise HarnessError(f"Secret {self.pod.namespace}/{name} not found")
        return {key: base64.b64decode(value) for key, value in found.get("data", {}).items()}

    def _token(self, source: Mapping[str, Any]) -> str:
        """A token bound to this pod, as the kubelet's projected volume holds (not refreshed)."""
        spec = self.pod.raw["spec"]
        argv = [
            "create",
            "token",
            spec.get("serviceAccountName", "default"),
            "-n",
            self.pod.namespace,
            f"--duration={source.get('expirationSeconds', 3607)}s",
            "--bound-object-kind=Pod",
            f"--bound-object-name={self.pod.name}",
            f"--bound-object-uid={self.pod.uid}",
        ]
        if source.get("audience"):
            argv.append(f"--audience={source['audience']}")
        return self.cluster.kubectl(*argv).stdout.strip()


def override_flags(args: Sequence[str], overrides: Mapping[str, str]) -> list[str]:
    """``args`` without any of the ``overrides`` flags, then ``--flag=value`` for each."""
    kept: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg in overrides:
            skip_next = True
        elif arg.split("=", 1)[0] not in overrides:
            kept.append(arg)
    return kept + [f"{flag}={value}" for flag, value in overrides.items()]


@dataclass(frozen=True)
class ContainerInSandbox:
    """Run a pod's container as a host binary, in a private mount namespace, as the pod says.

    The container's command and args (with ``overrides`` applied, values templated like
    ``PodCommand``'s), env (then ``env``, which wins), volumes at their mountPaths,
    workingDir and runAsUser/runAsGroup/fsGroup are honoured; ``binary`` replaces the
    image's entrypoint. The process also gets KUBERNETES_SERVICE_HOST/PORT naming the real
    API server, and an /etc/hosts (as a kubelet writes one) where ``localhost`` is the pod's
    IP: what listens on the pod IP is what the pod's own localhost would reach.
    """

    selector: str
    binary: Path
    container: str | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    forward_ports: bool = True

    def process_for(self, pod: Pod, cluster: KwokCluster, scratch: Path) -> ProcessSpec:
        container = pod.container(self.container)
        values = _fields(pod, self.container)
        args = [*container.get("command", [])[1:], *container.get("args", [])]
        args = override_flags(
            args, {flag: fill(value, values) for flag, value in self.overrides.items()}
        )
        mounts = VolumeMaker(cluster, pod, scratch / "volumes").mounts(container)
        mounts.append(Mount(_hosts_file(pod, scratch), "/etc/hosts", True))
        mounts.append(Mount(self.binary, str(self.binary), True))
        box = scratch / "box"
        box.mkdir(parents=True, exist_ok=True)
        user, groups = _user(pod, container)
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            _SANDBOX_SH,
            "sandbox",
            str(box),
            user,
            groups,
            container.get("workingDir", "/"),
        ]
        for mount in mounts:
            argv += [str(mount.source), mount.target, "ro" if mount.read_only else "rw"]
        argv += ["--", str(self.binary), *args]
        host, port = cluster.api_server
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/",
            "HOSTNAME": pod.name,
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": str(port),
        }
        env.update(container_env(pod, container, skip=list(self.env)))
        env.update(_env_values(self.env, pod, values))
        return ProcessSpec(argv, env)


def _hosts_file(pod: Pod, scratch: Path) -> Path:
    """The pod's /etc/hosts: its loopback is its IP (pods share the host's network here)."""
    path = scratch / "hosts"
    path.write_text(
        "# promkit kwok harness: this pod's localhost is its pod IP\n"
        f"{pod.ip}\tlocalhost {pod.name}\n"
    )
    path.chmod(0o644)
    return path


def _user(pod: Pod, container: Mapping[str, Any]) -> tuple[str, str]:
    """``uid:gid`` for chroot --userspec and the supplementary groups (fsGroup)."""
    pod_security = pod.raw["spec"].get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    uid = security.get("runAsUser", 0)
    gid = security.get("runAsGroup", uid)
    groups = [
        str(group)
        for group in [pod_security.get("fsGroup"), *pod_security.get("supplementalGroups", [])]
        if group
    ]
    return f"{uid}:{gid}", ",".join(groups)


# --------------------------------------------------------------------------- processes

#: Prefix for every pod process: SIGKILL when the thread that started it ends, so even a
#: harness killed without cleanup leaves no pod process behind.
_DIE_WITH_PARENT = ("setpriv", "--pdeathsig", "KILL", "--")


@dataclass
class _Managed:
    pod: Pod
    launcher: Launcher
    process: subprocess.Popen[bytes]
    log: Path
    restarts: int = 0
    exited_at: float | None = None


class PodProcesses:
    """One real local process per Running pod that a launcher selects, kept like a kubelet.

    A background thread polls the pods of ``namespace`` (``kubectl get pods -o json``)
    every ``poll_seconds``: it starts a process for each new Running pod (and a kwok
    PortForward to its container ports), restarts one that exits (capped backoff), and
    stops the processes of pods that are gone or being deleted. ``stop`` (or leaving the
    ``with`` block) kills them all. Output goes to ``<cluster workdir>/pods/<ns>_<pod>.log``.
    """

    def __init__(
        self,
        cluster: KwokCluster,
        namespace: str,
        launchers: Sequence[Launcher],
        *,
        poll_seconds: float = 1.0,
    ) -> None:
        self.cluster, self.namespace, self.launchers = cluster, namespace, list(launchers)
        self.poll_seconds = poll_seconds
        self.errors: list[str] = []
        self._managed: dict[str, _Managed] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PodProcesses:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start processes for the pods Running now, then keep reconciling in the background.

        A pod whose process cannot start is retried at each poll; ``errors`` says why.
        """
        self.reconcile()
        self._thread = threading.Thread(
            target=self._loop, name=f"pods-{self.namespace}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop reconciling and stop every process (SIGTERM, then SIGKILL)."""
        # Processes first: they die with the thread that started them (PDEATHSIG).
        with self._lock:
            self._stopping.set()
            for uid in list(self._managed):
                self._stop(self._managed.pop(uid))
        if self._thread is not None:
            self._thread.join(timeout=30)

    def pods(self, selector: str | None = None) -> list[Pod]:
        """The pods that have a live process now (optionally for one launcher's selector)."""
        with self._lock:
            return sorted(
                (
                    m.pod
                    for m in self._managed.values()
                    if m.process.poll() is None
                    and (selector is None or m.launcher.selector == selector)
                ),
                key=lambda pod: pod.name,
            )

    def wait_for(
        self, count: int, *, selector: str | None = None, timeout: float = 60.0
    ) -> list[Pod]:
        """Wait until exactly ``count`` pods have a live process; return them."""

        def probe() -> list[Pod] | None:
            pods = self.pods(selector)
            return pods if len(pods) == count else None

        try:
            return wait_until(f"{count} pod processes in {self.namespace}", probe, timeout)
        except HarnessError as exc:
            raise HarnessError(f"{exc} ({self._describe()})") from None

    def pid(self, pod_name: str) -> int | None:
        """The process id playing ``pod_name`` now, None if it has no live process."""
        with self._lock:
            for managed in self._managed.values():
                if managed.pod.name == pod_name and managed.process.poll() is None:
                    return managed.process.pid
        return None

    def log(self, pod_name: str) -> str:
        """What the pod's process printed (all its runs)."""
        path = self.cluster.workdir / "pods" / f"{self.namespace}_{pod_name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def reconcile(self) -> None:
        """Start, restart and stop processes to match the Running pods now."""
        for launcher in self.launchers:
            items = self.cluster.get("pods", "-n", self.namespace, "-l", launcher.selector)
            wanted = {pod.uid: pod for pod in map(Pod.from_api, items["items"]) if pod.running}
            with self._lock:
                if not self._stopping.is_set():
                    self._reconcile_one(launcher, wanted)

    def _reconcile_one(self, launcher: Launcher, wanted: Mapping[str, Pod]) -> None:
        for uid, managed in list(self._managed.items()):
            if managed.launcher is launcher and uid not in wanted:
                self._stop(self._managed.pop(uid))
        for uid, pod in wanted.items():
            current = self._managed.get(uid)
            try:
                if current is None:
                    self._managed[uid] = self._start(pod, launcher)
                elif current.process.poll() is not None:
                    self._maybe_restart(current)
            except (PromkitError, OSError) as exc:  # retried at the next poll
                self._record(f"pod {pod.namespace}/{pod.name}: {exc}")

    def _loop(self) -> None:
        while not self._stopping.wait(self.poll_seconds):
            try:
                self.reconcile()
            except Exception as exc:  # keep reconciling (and this thread's children alive)
                self._record(f"{type(exc).__name__}: {exc}")

    def _record(self, error: str) -> None:
        self.errors.append(error)
        del self.errors[:-20]

    def _start(self, pod: Pod, launcher: Launcher, restarts: int = 0) -> _Managed:
        scratch = self.cluster.workdir / "pods" / f"{pod.namespace}_{pod.name}"
        scratch.mkdir(parents=True, exist_ok=True)
        spec = launcher.process_for(pod, self.cluster, scratch)
        if launcher.forward_ports:
            self.cluster.forward_pod_ports(pod)
        log = scratch.with_suffix(".log")
        with log.open("ab") as out:
            out.write(f"--- harness: start #{restarts} on {pod.ip}: {spec.argv[-1]}\n".encode())
            out.flush()
            process = subprocess.Popen(
                [*_DIE_WITH_PARENT, *spec.argv],
                env=spec.env,
                cwd=spec.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return _Managed(pod, launcher, process, log, restarts)

    def _maybe_restart(self, managed: _Managed) -> None:
        now = time.monotonic()
        if managed.exited_at is None:
            managed.exited_at = now
            _append(managed.log, f"--- harness: exited with {managed.process.returncode}\n")
        if now - managed.exited_at >= min(2**managed.restarts, 16):
            self._managed[managed.pod.uid] = self._start(
                managed.pod, managed.launcher, managed.restarts + 1
            )

    def _stop(self, managed: _Managed) -> None:
        grace = min(int(managed.pod.raw["spec"].get("terminationGracePeriodSeconds", 30)), 15)
        stop_process(managed.process, grace)
        _append(managed.log, f"--- harness: stopped (exit {managed.process.returncode})\n")

    def _describe(self) -> str:
        with self._lock:
            states = [
                f"{m.pod.name}={'up' if m.process.poll() is None else 'exited'}"
                for m in self._managed.values()
            ]
        errors = f"; last error: {self.errors[-1]}" if self.errors else ""
        return (", ".join(states) or "none running") + errors


def _append(path: Path, text: str) -> None:
    with path.open("a") as out:
        out.write(text)


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM the process's group, SIGKILL it after ``grace`` seconds; reap it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------- prometheus


def label_selector(selector: Mapping[str, Any]) -> str:
    """A Deployment's ``spec.selector`` as a ``kubectl -l`` string."""
    parts = [f"{key}={value}" for key, value in selector.get("matchLabels", {}).items()]
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values", []))
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return ",".join(parts)


class ClusterPrometheus:
    """The real Prometheus binary playing the cluster's Prometheus Deployment.

    Whenever the Deployment's Running pod changes (a rollout after a ConfigMap change, a
    deleted pod), the process is restarted from the new pod's spec: the ConfigMap and the
    claim at their mountPaths, the ServiceAccount token admission projected into the pod,
    the container's args with only ``--web.listen-address`` set to ``<pod IP>:<port>``.
    A kwok PortForward makes ``kubectl port-forward svc/...`` reach it.
    """

    def __init__(
        self,
        cluster: KwokCluster,
        *,
        namespace: str = "monitoring",
        deployment: str = "prometheus",
        container: str | None = "prometheus",
        binary: Path = DEFAULT_PROMETHEUS,
    ) -> None:
        if os.geteuid() != 0:
            raise HarnessError(
                "ClusterPrometheus needs root (mount namespace, chroot): run as root"
            )
        if not os.access(binary, os.X_OK):
            raise HarnessError(
                f"Prometheus binary {binary} not found: run "
                "scripts/build-prometheus3.sh or set PROMKIT_PROMETHEUS3_BIN"
            )
        self.cluster, self.namespace, self.deployment = cluster, namespace, deployment
        self.container, self.binary = container, binary
        self.processes: PodProcesses | None = None

    def __enter__(self) -> ClusterPrometheus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start following the Deployment's pods (the Deployment must exist)."""
        deployment = self.cluster.get("deployment", self.deployment, "-n", self.namespace)
        launcher = ContainerInSandbox(
            label_selector(deployment["spec"]["selector"]),
            self.binary,
            self.container,
            {"--web.listen-address": "{pod_ip}:{port}"},
        )
        self.processes = PodProcesses(self.cluster, self.namespace, [launcher])
        self.processes.start()

    def stop(self) -> None:
        if self.processes is not None:
            self.processes.stop()

    @property
    def pod(self) -> Pod | None:
        """The pod whose Prometheus process runs now (the newest during a rolling update)."""
        pods = self.processes.pods() if self.processes else []
        return max(pods, key=lambda pod: pod.raw["metadata"]["creationTimestamp"], default=None)

    def url_of(self, pod: Pod) -> str:
        ports = pod.container_ports(self.container) or [9090]
        return f"http://{pod.ip}:{ports[0]}"

    def wait_ready(self, timeout: float = 90.0, *, not_pod: str | None = None) -> str:
        """Wait until a pod's Prometheus (other than ``not_pod``) answers /-/ready; its URL."""

        def probe() -> str | None:
            pod = self.pod
            if pod is None or pod.uid == not_pod:
                return None
            url = self.url_of(pod)
            response = httpx.get(f"{url}/-/ready", timeout=2.0)
            return url if response.status_code == 200 else None

        return wait_until(f"Prometheus of {self.namespace}/{self.deployment} ready", probe, timeout)

    def log(self) -> str:
        pod = self.pod
        return self.processes.log(pod.name) if self.processes and pod else ""


# --------------------------------------------------------------------------- cluster


def _loopback_listeners() -> set[int]:
    """Second octets of the 127.x addresses with a listening TCP socket now."""
    octets = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address = local.split(":")[0]
        if state == "0A" and address.endswith("7F"):  # LISTEN, little-endian 127.x.x.x
            octets.add(int(address[4:6], 16))
    return octets


def free_pod_cidr() -> str:
    """A /24 in 127.0.0.0/8 on which nothing listens, for a node's pod IPs."""
    used = _loopback_listeners()
    candidates = [octet for octet in range(100, 250) if octet not in used]
    return f"127.{random.choice(candidates)}.0.0/24"


class KwokCluster:
    """A kwokctl cluster (runtime binary) with one node whose pods get loopback IPs.

    ``context`` names it in ``kubeconfig`` (a private file: ``env()`` gives the KUBECONFIG
    other commands need). The PortForward and ClusterPortForward CRDs are on, the
    kwok-volume StorageClass is the default, and the API server reaches the node at
    127.0.0.1. ``delete`` removes everything (also when ``create`` failed half-way).
    """

    def __init__(
        self,
        binaries: KubeBinaries,
        workdir: Path,
        *,
        name: str = "promkit-e2e",
        pod_cidr: str | None = None,
        node_name: str = "kwok-node-0",
    ) -> None:
        self.binaries, self.name, self.node_name = binaries, name, node_name
        self.workdir = workdir.resolve()
        self.pod_cidr = pod_cidr or free_pod_cidr()
        self.kubeconfig = self.workdir / "kubeconfig"
        self.context = f"kwok-{name}"
        self._manifests = 0

    def __enter__(self) -> KwokCluster:
        try:
            self.create()
        except BaseException:
            self.delete()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()

    # ---- lifecycle

    def create(self) -> None:
        """Start the control plane, install the default StorageClass, register the node."""
        if shutil.which("kubectl") is None:  # kwokctl would try to download one
            raise HarnessError("kubectl not found on PATH: install kubectl 1.30+ and retry")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "kwokctl.yaml"
        config.write_text(self._kwokctl_config())
        b = self.binaries
        self._kwokctl(
            "create",
            "cluster",
            "--config",
            str(config),
            "--kubeconfig",
            str(self.kubeconfig),
            "--runtime",
            "binary",
            "--etcd-binary",
            str(b["etcd"]),
            "--kube-apiserver-binary",
            str(b["kube-apiserver"]),
            "--kube-controller-manager-binary",
            str(b["kube-controller-manager"]),
            "--kube-scheduler-binary",
            str(b["kube-scheduler"]),
            "--kwok-controller-binary",
            str(b["kwok"]),
            "--enable-crds",
            "PortForward,ClusterPortForward",
            # Connect to the node (kwok's kubelet API) at its InternalIP, 127.0.0.1.
            "--extra-args",
            "kube-apiserver=kubelet-preferred-address-types=InternalIP",
            "--wait",
            "120s",
            timeout=300,
        )
        self.kubectl("apply", "-f", str(b.folder / "stages" / STORAGE_CLASS))
        self.apply(self._node())
        try:
            wait_until(f"node {self.node_name} Ready", self._node_ready, 60)
        except HarnessError as exc:
            raise HarnessError(
                f"{exc}; kwok-controller said: {last_line(self.component_log('kwok-controller'))}"
            ) from None

    def delete(self) -> None:
        """Delete the cluster and make sure none of its processes survive."""
        self._kwokctl(
            "delete", "cluster", "--kubeconfig", str(self.kubeconfig), check=False, timeout=120
        )
        for pid in self._leftover_pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def component_log(self, component: str) -> str:
        """The log of a control plane component (etcd, kube-apiserver, kwok-controller...)."""
        path = self.workdir / "kwok" / "clusters" / self.name / "logs" / f"{component}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _leftover_pids(self) -> list[int]:
        """Processes whose command line names this cluster's kwok workdir (unique to it)."""
        marker = str(self.workdir / "kwok").encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "cmdline").read_bytes():
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def _kwokctl(self, *args: str, check: bool = True, timeout: float = 120) -> Completed:
        env = {"KWOK_WORKDIR": str(self.workdir / "kwok")}
        return _run(
            [str(self.binaries["kwokctl"]), "--name", self.name, *args],
            env=env,
            check=check,
            timeout=timeout,
        )

    def _kwokctl_config(self) -> str:
        kwokctl = {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": {"kubeVersion": self.binaries.kube_version, "bindAddress": "127.0.0.1"},
        }
        stages = [(self.binaries.folder / "stages" / stage).read_text() for stage in STAGES]
        return "\n---\n".join([yaml.safe_dump(kwokctl), *stages])

    def _node(self) -> dict[str, Any]:
        resources = {"cpu": "32", "memory": "64Gi", "pods": "110"}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]},
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.node_name},
                ],
                "allocatable": resources,
                "capacity": resources,
            },
        }

    def _node_ready(self) -> bool | None:
        node = self.get("node", self.node_name)
        conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
        return True if conditions.get("Ready") == "True" else None

    # ---- API access

    def env(self) -> dict[str, str]:
        """Environment for commands that should use this cluster (kubectl, inv ...)."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> Completed:
        """``kubectl --context <this cluster> args...`` through promkit's runner."""
        argv = ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--context={self.context}", *args]
        return _run(argv, check=check, timeout=timeout)

    def get(self, *args: str) -> Any:
        """``kubectl get args... -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def get_optional(self, *args: str) -> Any | None:
        """Like ``get`` for one object, None when it does not exist."""
        done = self.kubectl("get", *args, "-o", "json", "--ignore-not-found", check=False)
        if not done.ok:
            self.kubectl("get", *args, "-o", "json")  # raise with kubectl's message
        return json.loads(done.stdout) if done.stdout.strip() else None

    def apply(self, *objects: Mapping[str, Any]) -> None:
        """``kubectl apply`` these objects (written to a file in the workdir)."""
        self._manifests += 1
        path = self.workdir / "manifests" / f"{self._manifests:03d}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump_all([dict(obj) for obj in objects]))
        self.kubectl("apply", "-f", str(path))

    @property
    def api_server(self) -> tuple[str, int]:
        """The API server's host and port, as the kubeconfig names them."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        context = next(c for c in config["contexts"] if c["name"] == self.context)
        cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
        server = urlsplit(cluster["cluster"]["server"])
        return server.hostname or "127.0.0.1", server.port or 443

    def forward_pod_ports(self, pod: Pod) -> None:
        """A kwok PortForward: each container port of ``pod`` goes to ``<pod IP>:<port>``.

        Owned by the pod, so it goes away with it.
        """
        ports = sorted(
            {port for c in pod.raw["spec"]["containers"] for port in pod.container_ports(c["name"])}
        )
        if not ports or not pod.ip:
            return
        self.apply(
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "PortForward",
                "metadata": {
                    "name": pod.name,
                    "namespace": pod.namespace,
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Pod", "name": pod.name, "uid": pod.uid}
                    ],
                },
                "spec": {
                    "forwards": [
                        {"ports": [port], "target": {"address": pod.ip, "port": port}}
                        for port in ports
                    ]
                },
            }
        )

    @contextmanager
    def port_forward(
        self, target: str, remote_port: int, *, namespace: str, timeout: float = 30.0
    ) -> Iterator[str]:
        """``kubectl port-forward target :remote_port``: yields ``http://127.0.0.1:<local>``."""
        argv = [
            "kubectl",
            f"--kubeconfig={self.kubeconfig}",
            f"--context={self.context}",
            "-n",
            namespace,
            "port-forward",
            "--address=127.0.0.1",
            target,
            f":{remote_port}",
        ]
        process = subprocess.Popen(
            [*_DIE_WITH_PARENT, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            yield f"http://127.0.0.1:{_forwarded_port(process.stdout, timeout)}"
        finally:
            stop_process(process, 5)


def _forwarded_port(stdout: IO[bytes], timeout: float) -> int:
    """The local port from kubectl's 'Forwarding from 127.0.0.1:N -> M' line.

    A thread keeps draining kubectl's output afterwards so it never blocks on a full pipe.
    """
    found: list[int] = []
    seen: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        for raw in stdout:
            line = raw.decode(errors="replace").strip()
            seen.append(line)
            del seen[:-5]
            match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if match and not found:
                found.append(int(match.group(1)))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    ready.wait(timeout)
    if not found:
        raise HarnessError(
            f"kubectl port-forward did not start within {timeout:g}s: "
            f"{' | '.join(seen[-3:]) or 'no output'}"
        )
    return found[0]
