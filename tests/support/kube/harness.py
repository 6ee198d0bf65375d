"""A real, throwaway Kubernetes cluster on this machine, for the e2e_k8s tests.

kwokctl (runtime binary) starts etcd, kube-apiserver, kube-controller-manager and
kube-scheduler as local processes; its kwok controller is off, so nothing is simulated.
One real node joins: containerd, kubelet, kube-proxy and CoreDNS (``node.py``). Pods run
the images users get: Prometheus 3.16 with its UI and the sample app, worker and Redis,
built offline into the Docker engine and imported into the node. ``overlay()`` writes a
kustomization of the test's own that swaps k8s/'s pinned upstream images for those, so
k8s/ itself is never edited::

    binaries = KubeBinaries.locate()                    # a clear error if not built
    with Cluster(binaries, NodeBinaries.locate(...), workdir) as cluster:
        kustomization = cluster.overlay(REPO / "k8s")
        run(["inv", "deploy.k8s", "--context", cluster.context], env=cluster.env())

``Cluster`` snapshots what the node changes on this machine first and, on exit (also after
a failure half-way), stops every process it started by pid, removes what is its own
(``footprint.py``: its bridge and veths, its chains and kube-proxy's absent before, mounts
and network namespaces in its folder, its CNI cache files, log links and cgroups by
container id, the kernel settings its node changed), and raises if any of that is left.
Whatever else changed on the machine meanwhile stays. Storage: PersistentVolumes backed
by folders of the test's own (``local`` volumes with node affinity, so fsGroup applies),
no provisioner.

Needs root. The API server listens on every address (kwokctl checks it at 127.0.0.1, pods
reach it at the node's bridge address); the guard chain drops its port, the kubelet's and
CoreDNS' on every other interface.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import requests
import sh
import yaml
from invoke.context import Context

from promkit.core.errors import PromkitError
from promkit.local import images
from promkit.local.traffic import post_webhooks
from tests.support import WaitTimeout, free_port, wait_for
from tests.support.kube import host
from tests.support.kube.footprint import Footprint, Listing
from tests.support.kube.host import processes_naming, stop_tree
from tests.support.kube.node import EXIT_CODES, Binaries, Network, Node, NodeBinaries, NodeError
from tests.support.processes import ROOT

#: The checkout (k8s/, scripts/): tests.support.processes computes it from its own path.
REPO = ROOT
BUILD_SCRIPT = REPO / "scripts" / "build-kube.sh"
CACHE = Path(os.environ.get("PROMKIT_CACHE", "/var/cache/promkit"))
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwokctl")
#: The images k8s/ names (repository without tag) -> the offline image that replaces it.
UPSTREAM_NAMES = {
    "PROMKIT_PROMETHEUS_IMAGE": "prom/prometheus",
    "PROMKIT_REDIS_IMAGE": "redis",
    "PROMKIT_APP_IMAGE": "promkit/sample-app",
}
#: Where k8s/ puts the sample app (the pods ``post_traffic`` posts to).
SAMPLE_NAMESPACE = "promkit-sample"
#: Namespaces the cluster comes with; every other one is the tests'.
SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}

HarnessError = NodeError
__all__ = [
    "REPO",
    "Cluster",
    "HarnessError",
    "KubeBinaries",
    "NodeBinaries",
    "is_ready",
]


class KubeBinaries(Binaries):
    """The control plane: etcd, the API server, controller manager, scheduler, kwokctl."""

    @classmethod
    def locate(cls) -> KubeBinaries:
        found = cls.find(BUILD_SCRIPT, which="path", override="PROMKIT_KUBE_DIR",
                         names=BINARIES, cold="about 8 minutes")  # fmt: skip
        return cls(found.folder)

    @property
    def kube_version(self) -> str:
        """The Kubernetes version the binaries were built from, e.g. ``v1.36.5``."""
        return "v" + self.version("KUBE_VERSION")


class ControlPlane:
    """A kwokctl cluster (runtime binary): etcd, API server, controller manager, scheduler.

    Its files live in ``workdir``; ``context`` names it in ``kubeconfig``.
    """

    def __init__(self, binaries: KubeBinaries, workdir: Path, name: str) -> None:
        self.binaries, self.workdir, self.name = binaries, workdir, name
        self.kubeconfig = workdir / "kubeconfig"
        self.context = f"kwok-{name}"

    def create(self, config: Sequence[str], *flags: str) -> None:
        """``kwokctl create cluster`` with ``config`` (YAML documents) and extra ``flags``."""
        path = self.workdir / "kwokctl.yaml"
        path.write_text("\n---\n".join(config))
        b = self.binaries
        self.kwokctl(
            "create", "cluster", "--config", str(path), "--kubeconfig", str(self.kubeconfig),
            "--runtime", "binary", "--etcd-binary", str(b["etcd"]),
            "--kube-apiserver-binary", str(b["kube-apiserver"]),
            "--kube-controller-manager-binary", str(b["kube-controller-manager"]),
            "--kube-scheduler-binary", str(b["kube-scheduler"]),
            *flags, "--wait", "120s", timeout=300,
        )  # fmt: skip

    def delete(self) -> None:
        self.kwokctl("delete", "cluster", "--kubeconfig", str(self.kubeconfig), check=False)

    def kwokctl(self, *args: str, check: bool = True, timeout: float = 120) -> Any:
        return sh.Command(str(self.binaries["kwokctl"]))(
            "--name",
            self.name,
            *args,
            _env={**os.environ, "KWOK_WORKDIR": str(self.workdir / "kwok")},
            _timeout=timeout,
            _ok_code=EXIT_CODES if not check else [0],
        )


def offline_images() -> dict[str, str]:
    """k8s/'s upstream image name -> the offline image, built into Docker if missing (the
    images k8s/ does not run, such as the compose stack's Alertmanager, are left out)."""
    cache_dir = Path(os.environ.get("INVOKE_IMAGES_CACHE_DIR", CACHE))
    built = images.build_offline_images(Context(), cache_dir, only_missing=True)
    return {UPSTREAM_NAMES[v]: tag for v, tag in built.items() if v in UPSTREAM_NAMES}


class Cluster:
    """The control plane plus one real node; ``context`` names it in ``kubeconfig``."""

    def __init__(
        self,
        binaries: KubeBinaries,
        node_binaries: NodeBinaries,
        workdir: Path,
        *,
        name: str = "promkit-e2e",
    ) -> None:
        self.binaries, self.name = binaries, name
        self.workdir = workdir.resolve()
        self.plane = ControlPlane(binaries, self.workdir, name)
        self.kubeconfig, self.context = self.plane.kubeconfig, self.plane.context
        self.network = Network.free()
        self.api_port, kubelet_port = free_port(), free_port()
        self.node = Node(
            node_binaries,
            self.network,
            self.workdir / "node",
            kubeconfig=self.kubeconfig,
            context=self.context,
            kubelet_port=kubelet_port,
        )
        self.images: dict[str, str] = {}
        self.footprint = Footprint(
            self.network.index, (str(self.workdir),), socket=str(self.node.socket)
        )
        self._before: Listing | None = None
        self._manifests = 0

    def __enter__(self) -> Cluster:
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
        """Bridge, control plane, node; waits for the node Ready and CoreDNS serving."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.images = offline_images()
        self._before = host.capture()
        self.network.create([self.api_port, self.node.kubelet_port])
        self._create_control_plane()
        self.node.start(sorted(self.images.values()))
        try:
            wait_for(f"node {self.node.name} Ready", self._node_ready, 120, every=0.5)
            wait_for("CoreDNS ready", self._coredns_ready, 60, every=0.5)
        except (NodeError, WaitTimeout) as exc:
            kubelet = self.node.daemons["kubelet"].tail(25)
            raise HarnessError(f"{exc}\nkubelet log:\n{kubelet}") from None

    def delete(self) -> None:
        """Stop everything, put the machine back as it was; raise if something is left."""
        if self._before is None:
            return
        with suppress(sh.ErrorReturnCode, NodeError, WaitTimeout):
            self._delete_workloads()
        ids = self.node.container_ids()
        self.node.stop(self._no_pods_on_node)
        self.plane.delete()
        for pid in processes_naming(str(self.workdir)):
            stop_tree(pid, 5)
        footprint = self.footprint.with_ids(ids | self.node.container_ids())
        host.restore(footprint, self._before)
        left = host.leftovers(footprint, self._before)
        others = host.changes(self._before)
        self._before = None
        if left:
            raise HarnessError("the node left this on the machine:\n  " + "\n  ".join(left))
        print(
            "[host] nothing of this run left: no process, chain, link, netns, mount, cgroup or"
            f" file; {len(others)} other changes to the machine since it started, left alone:",
            *others,
            sep="\n  ",
            file=sys.stderr,
        )

    def _create_control_plane(self) -> None:
        extra = {
            "kube-apiserver": {
                # kwokctl waits for it at 127.0.0.1; pods reach it at the node's address.
                "bind-address": "0.0.0.0",
                "advertise-address": self.network.gateway,
                "service-cluster-ip-range": self.network.service_cidr,
                # The node's name does not resolve on this machine: dial its InternalIP.
                "kubelet-preferred-address-types": "InternalIP",
            },
            "kube-controller-manager": {"service-cluster-ip-range": self.network.service_cidr},
        }
        flags = [
            flag
            for component, values in extra.items()
            for key, value in values.items()
            for flag in ("--extra-args", f"{component}={key}={value}")
        ]
        config = {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": {
                "kubeVersion": self.binaries.kube_version,
                "bindAddress": "127.0.0.1",
                # Pods reach the API server at the kubernetes Service's ClusterIP.
                "kubeApiserverCertSANs": [self.network.kubernetes_ip, self.network.gateway],
            },
        }
        self.plane.create(
            [yaml.safe_dump(config)],
            "--kube-apiserver-port",
            str(self.api_port),
            "--disable",
            "kwok-controller",
            *flags,
        )

    def _node_ready(self) -> bool | None:
        self.node.check()
        node = self.get_optional("node", self.node.name)
        if node is None:
            return None
        conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
        return True if conditions.get("Ready") == "True" else None

    def _coredns_ready(self) -> bool | None:
        self.node.check()
        answer = requests.get(f"http://{self.node.coredns_ready}/ready", timeout=2)
        return True if answer.ok else None

    def _delete_workloads(self) -> None:
        """Delete the tests' namespaces and pods, so the kubelet stops them through CNI DEL."""
        names = {i["metadata"]["name"] for i in self.get("namespaces")["items"]}
        for namespace in sorted(names - SYSTEM_NAMESPACES):
            self.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        self.kubectl("delete", "pods", "--all", "--all-namespaces", "--wait=false", check=False)

    def _no_pods_on_node(self) -> bool:
        sandboxes = str(self.node.ctr("containers", "list", "--quiet", _ok_code=EXIT_CODES))
        return not sandboxes.split()

    # ---- API access

    def env(self) -> dict[str, str]:
        """Environment for commands that should use this cluster (kubectl, inv ...)."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> Any:
        """``kubectl --context <this cluster> args...``: the finished sh command (``str()`` is
        its stdout, plus ``exit_code`` and ``stderr``)."""
        return sh.kubectl(
            f"--kubeconfig={self.kubeconfig}",
            f"--context={self.context}",
            *args,
            _timeout=timeout,
            _ok_code=[0] if check else EXIT_CODES,
            _return_cmd=True,
        )

    def get(self, *args: str) -> Any:
        """``kubectl get args... -o json``, parsed."""
        return json.loads(str(self.kubectl("get", *args, "-o", "json")))

    def get_optional(self, *args: str) -> Any | None:
        """Like ``get`` for one object, None when it does not exist."""
        text = str(self.kubectl("get", *args, "-o", "json", "--ignore-not-found"))
        return json.loads(text) if text.strip() else None

    def apply(self, *objects: Mapping[str, Any]) -> None:
        """``kubectl apply`` these objects (written to a file in the workdir)."""
        self._manifests += 1
        path = self.workdir / "manifests" / f"{self._manifests:03d}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump_all([dict(obj) for obj in objects]))
        self.kubectl("apply", "-f", str(path))

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The events about object ``name`` (a pod...), oldest first."""
        found = self.get(
            "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
        )
        return sorted(
            found["items"],
            key=lambda e: e.get("lastTimestamp") or e["metadata"]["creationTimestamp"],
        )

    def post_traffic(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Post webhooks to every Ready sample-app pod for ``seconds`` at most (or until
        ``stop``), through promkit's traffic code. A trickle, not a burst: rate() needs
        counters that grow between two scrapes."""
        stop = stop or threading.Event()
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            with suppress(sh.ErrorReturnCode):
                pods = self.get("pods", "-n", SAMPLE_NAMESPACE, "-l", "app=fastapi-app")
                for pod in pods["items"]:
                    ip = pod.get("status", {}).get("podIP")
                    if ip and is_ready(pod):
                        with suppress(PromkitError):
                            post_webhooks(f"http://{ip}:8000", count=3, duration_s=1.0)
            stop.wait(0.5)

    # ---- storage and images

    def add_volumes(self, count: int, size: str = "10Gi") -> None:
        """``count`` PersistentVolumes (no class) on folders of the test's own, on the node."""
        volumes = []
        for _ in range(count):
            self._manifests += 1
            folder = self.workdir / "volumes" / f"pv-{self._manifests:03d}"
            folder.mkdir(parents=True)
            volumes.append(local_volume(folder.name, folder, size, self.node.name))
        self.apply(*volumes)

    def overlay(
        self, base: Path, *, name: str = "overlay", patches: Sequence[dict[str, Any]] = ()
    ) -> Path:
        """A kustomization of the test's own: ``base`` with the offline images swapped in."""
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        swapped = []
        for upstream, offline in self.images.items():
            new_name, new_tag = offline.rsplit(":", 1)
            swapped.append({"name": upstream, "newName": new_name, "newTag": new_tag})
        kustomization: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(base, folder)],
            "images": swapped,
        }
        if patches:
            kustomization["patches"] = list(patches)
        (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        return folder


def is_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the kubelet reports ``pod`` Ready."""
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return conditions.get("Ready") == "True"


def local_volume(name: str, folder: Path, size: str, node: str) -> dict[str, Any]:
    """A ``local`` PersistentVolume with no class, on ``folder`` of ``node``."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"promkit.test/volume": "e2e"}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "local": {"path": str(folder)},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            },
        },
    }
