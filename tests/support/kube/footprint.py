"""What one e2e_k8s run puts on this machine, told apart from everyone else's changes.

A ``Footprint`` names what identifies the run: its bridge (``pke2e<N>``, also the CNI
network's name), its chain prefix (``PKE2E-<N>-``), its pod and Service address ranges,
its folders (the workdir: containerd's root and state, where the network namespaces are
mounted, the kubelet's root, the pod logs and volumes) and the ids of its containers.
``Listing`` is what ``host.capture()`` reads of the machine. ``Footprint.ours(before,
now)`` is what of ``now`` the run made and must remove; after removing it, the same
question asked again is the leftovers check. Nothing here does I/O.

What is not the run's is never selected, whatever appeared meanwhile: another bridge,
namespace, mount, container or chain stays, and is no leftover either.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

#: Chain names the kubelet and kube-proxy make: the run's when they were absent before.
KUBE_PREFIX = "KUBE-"
#: Tables iptables-nft makes on first use (nft names them ``ip filter`` ...).
IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})
BUILTIN_CHAINS = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})
#: nft tables of kube-proxy's nftables mode (its iptables mode may create and drop them).
KUBE_NFT_TABLES = frozenset({"ip kube-proxy", "ip6 kube-proxy"})
#: Kernel settings the node's components set, and the value each sets them to: the
#: kubelet's kernel tunables, the bridge plugin's forwarding, kube-proxy's.
NODE_SYSCTLS: Mapping[str, str] = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
    "net/ipv4/ip_forward": "1",
    "net/ipv4/conf/all/route_localnet": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/bridge/bridge-nf-call-ip6tables": "1",
}
#: Where the node writes outside its folders: libcni's result cache, the kubelet's
#: container log symlinks (named ``<pod>_<namespace>_<container>-<id>.log``), the shims'
#: sockets (``/run/containerd/s/<sha256>``).
CNI_CACHE = "/var/lib/cni"
CONTAINER_LOGS = "/var/log/containers"
POD_LOGS = "/var/log/pods"
SHIM_SOCKETS = "/run/containerd/s"
WATCHED_FOLDERS = (CNI_CACHE, CONTAINER_LOGS, POD_LOGS, SHIM_SOCKETS)
#: The containerd namespace the CRI plugin uses.
CRI_NAMESPACE = "k8s.io"
CONTAINER_ID = re.compile(r"\b[0-9a-f]{64}\b")
#: containerd's log lines naming what it created for the kubelet.
CREATED_ID = re.compile(r'returns (?:sandbox|container) id \\?"([0-9a-f]{64})')


@dataclass(frozen=True, order=True)
class Chain:
    family: str  # iptables | ip6tables
    table: str
    name: str


@dataclass(frozen=True, order=True)
class Rule:
    """One rule as iptables-save prints it: ``-A CHAIN match... -j TARGET``."""

    family: str
    table: str
    spec: str

    @property
    def chain(self) -> Chain:
        return Chain(self.family, self.table, self.spec.split()[1])

    @property
    def words(self) -> list[str]:
        return shlex.split(self.spec)

    @property
    def target(self) -> str | None:
        """The chain ``-j``/``-g`` sends packets to, if any."""
        words = self.words
        for flag, value in itertools.pairwise(words):
            if flag in {"-j", "--jump", "-g", "--goto"}:
                return value
        return None


@dataclass(frozen=True)
class Listing:
    """The parts of the machine a node changes, as read at one moment."""

    chains: frozenset[Chain] = frozenset()
    rules: frozenset[Rule] = frozenset()
    #: Network link name -> the link it is enslaved to (its bridge), or "".
    links: Mapping[str, str] = field(default_factory=dict)
    #: Mount points in mount order (decoded).
    mounts: tuple[str, ...] = ()
    #: Cgroup folders (a few levels under each hierarchy).
    cgroups: frozenset[str] = frozenset()
    #: Every path under WATCHED_FOLDERS (and the folders themselves) -> its symlink
    #: target, "/" for a folder, "" for any other file.
    files: Mapping[str, str] = field(default_factory=dict)
    sysctls: Mapping[str, str] = field(default_factory=dict)
    #: ``family name`` of every nftables table.
    nft_tables: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Removal:
    """What of a listing is the run's, in the order to remove it."""

    mounts: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    chains: tuple[Chain, ...] = ()
    #: iptables-nft tables the run brought that are empty again, as ``(family, table)``.
    tables: tuple[tuple[str, str], ...] = ()
    nft_tables: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    #: Folders the run's files brought, empty once those are gone: rmdir, deepest first.
    folders: tuple[str, ...] = ()
    cgroups: tuple[str, ...] = ()

    def describe(self, now: Listing) -> list[str]:
        """One line per item, e.g. ``network link pke2e200`` (the leftovers message)."""
        found = [f"mount {path}" for path in self.mounts]
        found += [f"iptables rule {r.family} -t {r.table} {r.spec}" for r in self.rules]
        found += [f"iptables chain {c.family} -t {c.table} {c.name}" for c in self.chains]
        found += [f"iptables table {family} {table} (empty)" for family, table in self.tables]
        found += [f"nftables table {name}" for name in self.nft_tables]
        found += [f"network link {name}" for name in self.links]
        found += [
            f"sysctl {key} = {now.sysctls.get(key)} (was {value})"
            for key, value in self.sysctls.items()
        ]
        found += [f"file {path}" for path in self.files]
        found += [f"folder {path}" for path in self.folders]
        found += [f"cgroup {path}" for path in self.cgroups]
        return found

    def __bool__(self) -> bool:
        return any(bool(value) for value in vars(self).values())


@dataclass(frozen=True)
class Footprint:
    """What identifies one run's traces on the machine."""

    index: int
    #: The run's own folders: every mount under one is its (network namespaces included).
    roots: tuple[str, ...]
    #: containerd's gRPC socket: with a container id it names the shim's socket.
    socket: str = ""
    container_ids: frozenset[str] = frozenset()

    @property
    def bridge(self) -> str:
        return f"pke2e{self.index}"

    @property
    def network(self) -> str:
        """The CNI network's name: libcni caches results as ``<network>-<id>-<ifname>``."""
        return self.bridge

    @property
    def chain_prefix(self) -> str:
        return f"PKE2E-{self.index}-"

    @property
    def address_prefixes(self) -> tuple[str, str]:
        """The pod /24 and the Service /24, as the start of their addresses."""
        return (f"10.244.{self.index}.", f"10.245.{self.index}.")

    def with_ids(self, ids: Iterable[str]) -> Footprint:
        """The same footprint, knowing these container (and sandbox) ids too."""
        return replace(self, container_ids=self.container_ids | frozenset(ids))

    # ---- the question

    def ours(self, before: Listing, now: Listing) -> Removal:
        """What of ``now`` this run made (``before`` was read before it started)."""
        chains = self.chains(before, now)
        rules = self.rules(before, now, chains)
        files = self.files(now)
        return Removal(
            mounts=self.mounts(now),
            rules=rules,
            chains=tuple(sorted(chains)),
            tables=self.emptied_tables(before, now, chains, rules),
            nft_tables=tuple(sorted(now.nft_tables & KUBE_NFT_TABLES - before.nft_tables)),
            links=self.links(now),
            sysctls=self.sysctls(before, now),
            files=files,
            folders=self.folders(before, now, files),
            cgroups=self.cgroups(before, now),
        )

    # ---- each kind

    def owns_path(self, path: str) -> bool:
        """Whether ``path`` lies in one of the run's folders (or is one)."""
        pure = PurePosixPath(path)
        return any(pure == PurePosixPath(root) or PurePosixPath(root) in pure.parents
                   for root in self.roots)  # fmt: skip

    def mounts(self, now: Listing) -> tuple[str, ...]:
        """Mount points in the run's folders, the last mounted first."""
        return tuple(path for path in reversed(now.mounts) if self.owns_path(path))

    def chains(self, before: Listing, now: Listing) -> set[Chain]:
        """The run's prefix, and the kubelet's and kube-proxy's chains absent before."""
        return {
            chain
            for chain in now.chains
            if chain.name.startswith(self.chain_prefix)
            or (chain.name.startswith(KUBE_PREFIX) and chain not in before.chains)
        }

    def rules(self, before: Listing, now: Listing, chains: set[Chain]) -> tuple[Rule, ...]:
        """New rules in chains that stay which jump to a chain of the run's or name its
        bridge or addresses (a rule in a chain of the run's goes with that chain)."""
        names = {(c.family, c.table, c.name) for c in chains}
        found = []
        for rule in now.rules - before.rules:
            if rule.chain in chains:
                continue
            jumps = (rule.family, rule.table, rule.target) in names
            if jumps or any(self._names_us(word) for word in rule.words):
                found.append(rule)
        return tuple(sorted(found))

    def _names_us(self, word: str) -> bool:
        return word == self.bridge or word.startswith(self.address_prefixes)

    def emptied_tables(
        self, before: Listing, now: Listing, chains: set[Chain], rules: Sequence[Rule]
    ) -> tuple[tuple[str, str], ...]:
        """iptables tables absent before that hold nothing but the run's chains and rules
        (the kubelet's canary brings ``mangle``, ip6tables may bring them all)."""
        had = {(c.family, c.table) for c in before.chains}
        gone = set(rules)
        found = []
        for family, table in sorted({(c.family, c.table) for c in now.chains} - had):
            here = (family, table)
            others = [
                c
                for c in now.chains
                if (c.family, c.table) == here and c.name not in BUILTIN_CHAINS and c not in chains
            ]
            kept = [
                r
                for r in now.rules
                if (r.family, r.table) == here and r.chain not in chains and r not in gone
            ]
            if table in IPTABLES_TABLES and not others and not kept:
                found.append(here)
        return tuple(found)

    def links(self, now: Listing) -> tuple[str, ...]:
        """The pods' veths still on the run's bridge, then the bridge."""
        veths = sorted(name for name, master in now.links.items() if master == self.bridge)
        return (*veths, self.bridge) if self.bridge in now.links else tuple(veths)

    def sysctls(self, before: Listing, now: Listing) -> dict[str, str]:
        """Settings a node component changed to its value: key -> the value to put back."""
        return {
            key: value
            for key, value in before.sysctls.items()
            if key in NODE_SYSCTLS
            and value
            and now.sysctls.get(key) == NODE_SYSCTLS[key]
            and value != NODE_SYSCTLS[key]
        }

    def files(self, now: Listing) -> tuple[str, ...]:
        """The run's files in the watched folders, deepest first."""
        found = [path for path, target in now.files.items() if self._owns_file(path, target)]
        return tuple(sorted(found, key=lambda p: (-p.count("/"), p)))

    def _owns_file(self, path: str, target: str) -> bool:
        name = PurePosixPath(path).name
        parent = str(PurePosixPath(path).parent)
        if target == "/":
            return False  # a folder goes once empty (``folders``)
        if parent == SHIM_SOCKETS:
            return name in self.shim_sockets()
        if path.startswith(CNI_CACHE + "/"):
            return name.startswith(self.network + "-") or self._names_an_id(name)
        if path.startswith((CONTAINER_LOGS + "/", POD_LOGS + "/")):
            return (target not in {"", "/"} and self.owns_path(target)) or self._names_an_id(name)
        return False

    def _names_an_id(self, name: str) -> bool:
        return any(found in self.container_ids for found in CONTAINER_ID.findall(name))

    def shim_sockets(self) -> set[str]:
        """The socket names containerd's shims take for the run's ids (sha256 of
        ``<containerd socket>/<namespace>/<id>``, as containerd names them)."""
        if not self.socket:
            return set()
        return {
            hashlib.sha256(f"{self.socket}/{CRI_NAMESPACE}/{cid}".encode()).hexdigest()
            for cid in self.container_ids
        }

    def folders(self, before: Listing, now: Listing, files: Sequence[str]) -> tuple[str, ...]:
        """Watched folders absent before that hold nothing but the run's files."""
        gone = set(files)
        found = []
        for path, target in now.files.items():
            if target != "/" or path in before.files:
                continue
            inside = [p for p in now.files if p.startswith(path + "/")]
            if all(p in gone or (now.files[p] == "/" and p not in before.files) for p in inside):
                found.append(path)
        return tuple(sorted(found, key=lambda p: (-p.count("/"), p)))

    def cgroups(self, before: Listing, now: Listing) -> tuple[str, ...]:
        """Cgroups named by the run's container ids, then the parents they brought once
        they hold nothing else; deepest first."""
        named = {path for path in now.cgroups if PurePosixPath(path).name in self.container_ids}
        found = set(named)
        for path in named:
            parent = str(PurePosixPath(path).parent)
            if parent in now.cgroups and parent not in before.cgroups:
                children = [p for p in now.cgroups if str(PurePosixPath(p).parent) == parent]
                if all(child in found for child in children):
                    found.add(parent)
        return tuple(sorted(found, key=lambda p: (-p.count("/"), p)))


def ids_in_log(text: str) -> set[str]:
    """Sandbox and container ids containerd's log says it created for the kubelet."""
    return set(CREATED_ID.findall(text))
