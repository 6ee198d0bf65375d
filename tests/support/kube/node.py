"""One real Kubernetes node on this machine: containerd, kubelet, kube-proxy and CoreDNS.

Everything is the node's own: a containerd with its own root, state and socket (never the
Docker engine's), a CNI bridge on a /24 nobody else uses, its own kubelet root, pod log and
volume-plugin folders, and a CoreDNS bound to the bridge's gateway address, which is also
the node's IP. A guard chain keeps the API server's, the kubelet's and CoreDNS' ports to
loopback and the bridge. Images come from the Docker engine (``docker save`` into the
node's containerd); the pod sandbox runs the pause binary from ``scripts/build-kube.sh``.

``Node.start`` brings it up after the control plane; ``Node.stop`` stops the pods through
the kubelet, then every process it started (by pid), then the shims containerd left.
``host.restore`` then removes what the components left outside the node's folder, as far
as ``footprint.Footprint`` says it is this run's: containerd mounts the pods' network
namespaces and keeps runc's state in its own state folder, the CNI network is named after
the bridge.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import os
import signal
import sys
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sh
import yaml

from tests.support import Background, WaitTimeout, free_port, wait_for
from tests.support.kube.footprint import ids_in_log
from tests.support.kube.host import processes_naming, stop_tree

NODE_BINARIES = ("kubelet", "kube-proxy", "coredns", "pause")
#: ``_ok_code`` for "any exit status" (a process killed by a signal still raises, unlike
#: tests.support.processes.ANY_EXIT); a tuple, the type sh's stubs take.
EXIT_CODES = tuple(range(256))


class NodeError(RuntimeError):
    """The node could not do its job; the message says what and where to look."""


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class Binaries:
    """A folder ``scripts/build-kube.sh`` fills; ``binaries["kubelet"]`` is a path in it."""

    folder: Path

    @classmethod
    def find(
        cls, build_script: Path, *, which: str, override: str, names: Sequence[str], cold: str
    ) -> Binaries:
        """The folder (``override`` env var, else ``build-kube.sh which``); fail if incomplete."""
        folder = os.environ.get(override) or str(sh.bash(build_script, which))
        binaries = cls(Path(folder.strip()))
        missing = [name for name in names if not os.access(binaries[name], os.X_OK)]
        if missing:
            raise NodeError(
                f"binaries missing in {binaries.folder} ({', '.join(missing)}): run "
                f"scripts/build-kube.sh first (cold build: {cold} on 2 cores)"
            )
        return binaries

    def __getitem__(self, name: str) -> Path:
        return self.folder / name

    def version(self, name: str) -> str:
        """A version the build recorded in versions.env, e.g. ``KUBE_VERSION``."""
        lines = (self.folder / "versions.env").read_text().split()
        return dict(line.split("=", 1) for line in lines)[name]


class NodeBinaries(Binaries):
    """kubelet, kube-proxy, CoreDNS and pause."""

    @classmethod
    def locate(cls, build_script: Path) -> NodeBinaries:
        found = cls.find(build_script, which="node-path", override="PROMKIT_KUBE_NODE_DIR",
                         names=NODE_BINARIES, cold="about 15 minutes")  # fmt: skip
        return cls(found.folder)


# --------------------------------------------------------------------------- network


@dataclass(frozen=True)
class Network:
    """The node's addresses: a pod /24 on its own bridge, a Service /24, both unused here."""

    index: int

    @classmethod
    def free(cls) -> Network:
        """The first index whose subnets no address, route or link of this machine uses."""
        used = str(sh.ip("-4", "-o", "addr")) + str(sh.ip("-4", "route")) + str(sh.ip("-o", "link"))
        for index in range(200, 255):
            network = cls(index)
            taken = (network.bridge, f"10.244.{index}.", f"10.245.{index}.")
            if not any(name in used for name in taken):
                return network
        raise NodeError("no free 10.244.200-254.0/24 subnet for the test node's bridge")

    @property
    def bridge(self) -> str:
        return f"pke2e{self.index}"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"

    @property
    def gateway(self) -> str:
        """The bridge's address: the pods' gateway, the node's IP, the cluster DNS."""
        return f"10.244.{self.index}.1"

    @property
    def service_cidr(self) -> str:
        return f"10.245.{self.index}.0/24"

    @property
    def kubernetes_ip(self) -> str:
        """The ClusterIP of the ``kubernetes`` Service (the first of the Service range)."""
        return f"10.245.{self.index}.1"

    @property
    def guard_chain(self) -> str:
        return f"PKE2E-{self.index}-IN"

    @property
    def forward_chain(self) -> str:
        return f"PKE2E-{self.index}-FWD"

    def create(self, guarded_tcp_ports: Sequence[int]) -> None:
        """The bridge with the gateway address, plus the guard and forward chains.

        The bridge exists before any pod so the API server's certificate, CoreDNS and the
        kubelet can use its address; the CNI plugin finds it and adds the pods' veths.
        Docker sets FORWARD's policy to DROP: the forward chain accepts the bridge's traffic.
        """
        sh.ip("link", "add", "name", self.bridge, "type", "bridge")
        sh.ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh.ip("link", "set", self.bridge, "up")
        iptables = sh.iptables.bake("-w")
        iptables("-N", self.guard_chain)
        iptables("-A", self.guard_chain, "-i", "lo", "-j", "RETURN")
        iptables("-A", self.guard_chain, "-i", self.bridge, "-j", "RETURN")
        ports = ",".join(str(port) for port in guarded_tcp_ports)
        iptables(
            "-A", self.guard_chain, "-p", "tcp", "-m", "multiport", "--dports", ports, "-j", "DROP"
        )
        for protocol in ("tcp", "udp"):
            iptables(
                "-A",
                self.guard_chain,
                "-p",
                protocol,
                "-d",
                self.gateway,
                "--dport",
                "53",
                "-j",
                "DROP",
            )
        iptables("-I", "INPUT", "1", "-j", self.guard_chain)
        iptables("-N", self.forward_chain)
        iptables("-A", self.forward_chain, "-i", self.bridge, "-j", "ACCEPT")
        iptables("-A", self.forward_chain, "-o", self.bridge, "-j", "ACCEPT")
        iptables("-I", "FORWARD", "1", "-j", self.forward_chain)


# --------------------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In the child: SIGKILL when the harness dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Daemon(Background):
    """A long-running process of the node, its output appended to ``log``; it dies with
    the harness, and ``stop`` takes its descendants too."""

    def __init__(self, name: str, argv: Sequence[str | Path], log: Path) -> None:
        super().__init__(argv, log, preexec_fn=_die_with_parent)
        self.name = name

    def start(self) -> Daemon:
        print(f"[node] starting {self.name}: {' '.join(self.argv)}", file=sys.stderr)
        super().start()
        return self

    def check_alive(self) -> None:
        if not self.alive:
            raise NodeError(f"{self.name} exited; its last log lines:\n{self.tail()}")

    def stop(self, grace: float = 15.0) -> None:
        super().stop(grace)


# --------------------------------------------------------------------------- the node


class Node:
    """containerd + kubelet + kube-proxy + CoreDNS, registered as ``name``."""

    def __init__(
        self,
        binaries: NodeBinaries,
        network: Network,
        workdir: Path,
        *,
        kubeconfig: Path,
        context: str,
        kubelet_port: int,
        name: str = "promkit-node",
    ) -> None:
        self.binaries, self.network, self.name = binaries, network, name
        self.workdir, self.kubeconfig, self.context = workdir, kubeconfig, context
        self.kubelet_port = kubelet_port
        self.socket = workdir / "containerd" / "containerd.sock"
        self.daemons: dict[str, Daemon] = {}
        self.pause_image = ""

    # ---- lifecycle

    def start(self, images: Sequence[str]) -> None:
        """containerd (``images`` and the pause image imported), kubelet, kube-proxy, CoreDNS."""
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        pause = self.pause_image = self._pause_image()
        self._start("containerd", ["containerd", "--config", self._containerd_config(pause)])
        wait_for("containerd's socket", self._containerd_answers, 30, every=0.5)
        self.import_images([pause, *images])
        self._start("kubelet", self._kubelet_argv())
        self._start(
            "kube-proxy", [self.binaries["kube-proxy"], "--config", self._kube_proxy_config()]
        )
        self._start(
            "coredns", [self.binaries["coredns"], "-conf", self._corefile(), "-dns.port", "53"]
        )

    def stop(self, pods_gone: Callable[[], bool]) -> None:
        """Stop pods through the kubelet (``pods_gone`` says when), then every process."""
        if "kubelet" in self.daemons and self.daemons["kubelet"].alive:
            try:
                wait_for("the kubelet stopping every pod", pods_gone, 90, every=0.5)
            except WaitTimeout as exc:
                print(f"[node] {exc}: stopping what is left directly", file=sys.stderr)
        for name in ("coredns", "kube-proxy", "kubelet"):
            if name in self.daemons:
                self.daemons[name].stop()
        # No `kube-proxy --cleanup`: it flushes every KUBE- chain, anyone's. host.restore
        # removes this run's by name (the chains absent before the node started).
        self._remove_containers()
        if "containerd" in self.daemons:
            self.daemons["containerd"].stop()
        for pid in processes_naming(str(self.socket)):  # shims outlive containerd
            stop_tree(pid, 5)

    def check(self) -> None:
        """Raise, with its log, if a component of the node has exited."""
        for daemon in self.daemons.values():
            daemon.check_alive()

    # ---- containerd

    def ctr(self, *args: str, **kwargs: Any) -> Any:
        return sh.ctr("--address", self.socket, "--namespace", "k8s.io", *args, **kwargs)

    def import_images(self, images: Sequence[str]) -> None:
        """``docker save`` the images into the node's containerd (no registry here)."""
        print(f"[node] importing {', '.join(images)} into the node's containerd", file=sys.stderr)
        self.ctr("images", "import", "-", _in=sh.docker("save", *images, _piped=True))

    def _containerd_answers(self) -> bool | None:
        self.daemons["containerd"].check_alive()
        return (
            True
            if self.socket.exists()
            and self.ctr("version", _ok_code=[0, 1], _return_cmd=True).exit_code == 0
            else None
        )

    def _pause_image(self) -> str:
        """A one-file image of the pause binary, imported into Docker under its digest."""
        binary = self.binaries["pause"].read_bytes()
        tag = f"promkit/pause:{hashlib.sha256(binary).hexdigest()[:12]}"
        if sh.docker("image", "inspect", tag, _ok_code=[0, 1], _return_cmd=True).exit_code != 0:
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w") as tar:
                info = tarfile.TarInfo("pause")
                info.size, info.mode = len(binary), 0o755
                tar.addfile(info, io.BytesIO(binary))
            sh.docker(
                "import", "--change", 'ENTRYPOINT ["/pause"]', "-", tag, _in=archive.getvalue()
            )
        return tag

    def container_ids(self) -> set[str]:
        """Every sandbox and container id this node's containerd made: those it still has,
        and those its log says it created (some may be gone already)."""
        found: set[str] = set()
        log = self.workdir / "logs" / "containerd.log"
        if log.exists():
            found |= ids_in_log(log.read_text(errors="replace"))
        if "containerd" in self.daemons and self.daemons["containerd"].alive:
            listed = self.ctr("containers", "list", "--quiet", _ok_code=EXIT_CODES)
            found |= set(str(listed).split())
        return found

    def _remove_containers(self) -> None:
        """Kill and delete what the kubelet did not stop (tasks, then containers)."""
        if "containerd" not in self.daemons or not self.daemons["containerd"].alive:
            return
        for task in str(self.ctr("tasks", "list", "--quiet", _ok_code=[0, 1])).split():
            self.ctr("tasks", "kill", "--signal", "SIGKILL", task, _ok_code=EXIT_CODES)
            self.ctr("tasks", "delete", "--force", task, _ok_code=EXIT_CODES)
        for container in str(self.ctr("containers", "list", "--quiet", _ok_code=[0, 1])).split():
            self.ctr("containers", "delete", container, _ok_code=EXIT_CODES)

    # ---- configuration files

    def _write(self, name: str, text: str) -> Path:
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def _containerd_config(self, sandbox_image: str) -> Path:
        folder = self.workdir / "containerd"
        cni = self._write("cni/net.d/10-promkit.conflist", json.dumps(self._cni_config()))
        return self._write(
            "containerd/config.toml",
            CONTAINERD_CONFIG.format(
                root=folder / "root",
                state=folder / "state",
                runc_root=folder / "state" / "runc",
                socket=self.socket,
                opt=folder / "opt",
                sandbox_image=f"docker.io/{sandbox_image}",
                cni_conf_dir=cni.parent,
            ),
        )

    def _cni_config(self) -> dict[str, Any]:
        """A bridge (the one ``Network.create`` made) with host-local IPAM in the node's folder."""
        return {
            "cniVersion": "1.0.0",
            # Named after the run: libcni caches results as /var/lib/cni/results/<name>-<id>-...
            "name": self.network.bridge,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.network.bridge,
                    "isGateway": True,
                    "hairpinMode": True,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.workdir / "cni" / "ipam"),
                        "ranges": [
                            [{"subnet": self.network.pod_cidr, "gateway": self.network.gateway}]
                        ],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        }

    def _kubelet_argv(self) -> list[str | Path]:
        root = self.workdir / "kubelet"
        return [
            self.binaries["kubelet"],
            f"--config={self._kubelet_config()}",
            f"--kubeconfig={self.kubeconfig}",
            f"--root-dir={root}",
            f"--hostname-override={self.name}",
            f"--node-ip={self.network.gateway}",
            "--v=2",
        ]

    def _kubelet_config(self) -> Path:
        resolv = self._write("kubelet/resolv.conf", "")
        config: dict[str, Any] = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.network.gateway,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzPort": 0,
            # A throwaway cluster: the API server reaches logs, exec and port-forward
            # anonymously (the guard chain keeps the port to loopback and the bridge).
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failCgroupV1": False,
            "failSwapOn": False,
            # True would make the kubelet refuse to start on this machine's settings: it
            # tunes vm.overcommit_memory and kernel.panic*; host.restore puts them back.
            "protectKernelDefaults": False,
            "clusterDNS": [self.network.gateway],
            "clusterDomain": "cluster.local",
            "resolvConf": str(resolv),
            "podLogsDir": str(self.workdir / "pod-logs"),
            "volumePluginDir": str(self.workdir / "kubelet" / "volume-plugins"),
            "serializeImagePulls": False,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "nodeStatusUpdateFrequency": "5s",
            "syncFrequency": "10s",
        }
        return self._write("kubelet/config.yaml", yaml.safe_dump(config))

    def _kube_proxy_config(self) -> Path:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            "hostnameOverride": self.name,
            "mode": "iptables",
            "clusterCIDR": self.network.pod_cidr,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "nodePortAddresses": [f"{self.network.gateway}/32"],
            "iptables": {"localhostNodePorts": False},
            # 0: leave the machine's conntrack settings as they are.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
        }
        return self._write("kube-proxy/config.yaml", yaml.safe_dump(config))

    def _corefile(self) -> Path:
        self.coredns_ready = f"127.0.0.1:{free_port()}"
        return self._write(
            "coredns/Corefile",
            COREFILE.format(
                address=self.network.gateway,
                kubeconfig=self.kubeconfig,
                context=self.context,
                ready=self.coredns_ready,
            ),
        )

    def _start(self, name: str, argv: Sequence[str | Path]) -> None:
        daemon = Daemon(name, argv, self.workdir / "logs" / f"{name}.log")
        self.daemons[name] = daemon
        daemon.start()


CONTAINERD_CONFIG = """\
# The e2e_k8s node's own containerd (written by tests/support/kube/node.py).
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # This machine may not lower an OOM score below its own: without this every sandbox
  # fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # The pods' network namespaces under this containerd's state folder, not /run/netns.
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's state here too, not /run/containerd/runc (the machine's containerd's).
        Root = "{runc_root}"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_conf_dir}"
"""

COREFILE = """\
.:53 {{
    bind {address}
    errors
    ready {ready}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} {context}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""
