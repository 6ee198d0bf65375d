"""What a real node changes on this machine, and putting it back as it was.

The kubelet, kube-proxy, containerd and the CNI bridge plugin leave traces outside the
harness' own folder: iptables chains and rules (both families), a bridge and veths,
network namespaces under /run/netns, mounts, cgroups, kernel settings the kubelet tunes,
and files under /var/lib/cni and /var/log. ``HostState.capture()`` before the node starts;
after it stops, ``restore(before)`` removes what appeared, and ``leftovers(before)`` names
whatever is still different (the session fails on any).

Only what appeared since the snapshot is touched, and for iptables only chains and rules
that name Kubernetes, CNI or this harness (``OWNED``), so a Docker rule added meanwhile
stays.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import sh

from tests.support.processes import descendants, stop_processes

#: Chains and rules the node's components own: what ``restore`` may remove.
OWNED = re.compile(r"KUBE-|CNI-|PKE2E|pke2e|10\.24[45]\.")
#: Kernel settings the kubelet or kube-proxy may change (kubelet's "kernel tunables").
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/conf/all/route_localnet",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
)
#: Folders outside the harness' own where the node writes files (cached CNI results,
#: container log symlinks).
WATCHED_FOLDERS = (Path("/var/lib/cni"), Path("/var/log/containers"), Path("/var/log/pods"))
CGROUP_ROOT = Path("/sys/fs/cgroup")
FAMILIES = ("iptables", "ip6tables")
BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}


@dataclass(frozen=True)
class Rule:
    """One iptables rule as iptables-save prints it: ``-A CHAIN match... -j TARGET``."""

    family: str
    table: str
    spec: str

    @property
    def chain(self) -> str:
        return self.spec.split()[1]


@dataclass(frozen=True)
class Chain:
    family: str
    table: str
    name: str


@dataclass(frozen=True)
class HostState:
    """The parts of this machine a node changes."""

    chains: frozenset[Chain]
    rules: frozenset[Rule]
    links: frozenset[str]
    netns: frozenset[str]
    mounts: tuple[str, ...]
    cgroups: frozenset[str]
    files: frozenset[str]
    sysctls: Mapping[str, str]
    #: ``family name`` of every nftables table (the policy controller's are nft-only).
    nft_tables: frozenset[str] = frozenset()

    @classmethod
    def capture(cls) -> HostState:
        chains: set[Chain] = set()
        rules: set[Rule] = set()
        for family in FAMILIES:
            found_chains, found_rules = _iptables(family)
            chains |= found_chains
            rules |= found_rules
        return cls(
            frozenset(chains),
            frozenset(rules),
            frozenset(_links()),
            frozenset(_netns()),
            tuple(_mounts()),
            frozenset(_cgroups()),
            frozenset(_files()),
            {key: _sysctl(key) for key in SYSCTLS},
            frozenset(_nft_tables()),
        )


def restore(before: HostState) -> None:
    """Remove what appeared since ``before`` (the node's processes must be stopped)."""
    now = HostState.capture()
    steps: list[Callable[[], None]] = [
        lambda: _unmount(now, before),
        *[lambda n=name: _ip("netns", "delete", n) for name in sorted(now.netns - before.netns)],
        lambda: _restore_iptables(now, before),
        *[
            lambda t=table: _drop_nft_table(t)
            for table in sorted(now.nft_tables - before.nft_tables)
        ],
        *[lambda n=link: _ip("link", "delete", n) for link in sorted(now.links - before.links)],
        lambda: _restore_sysctls(before),
        lambda: _remove_files(now, before),
        *[
            lambda g=cgroup: _remove_cgroup(Path(g))
            for cgroup in sorted(now.cgroups - before.cgroups, key=len, reverse=True)
        ],
    ]
    for step in steps:  # each step on its own: one failure must not keep the rest back
        try:
            step()
        except (sh.ErrorReturnCode, OSError) as exc:
            print(f"[host] restoring: {str(exc).strip()[-300:]}", file=sys.stderr)


def leftovers(before: HostState) -> list[str]:
    """What is still different from ``before``, one line each (empty when clean)."""
    now = HostState.capture()
    found = [f"iptables chain {c.family} -t {c.table} {c.name}" for c in now.chains - before.chains]
    found += [f"iptables rule {r.family} -t {r.table} {r.spec}" for r in now.rules - before.rules]
    found += [f"nftables table {name}" for name in now.nft_tables - before.nft_tables]
    found += [f"network link {name}" for name in now.links - before.links]
    found += [f"network namespace {name}" for name in now.netns - before.netns]
    found += [f"mount {path}" for path in set(now.mounts) - set(before.mounts)]
    found += [f"cgroup {path}" for path in now.cgroups - before.cgroups]
    found += [f"file {path}" for path in now.files - before.files]
    found += [
        f"sysctl {key} = {now.sysctls[key]} (was {value})"
        for key, value in before.sysctls.items()
        if now.sysctls[key] != value
    ]
    return sorted(found)


def stop_tree(pid: int, grace: float = 10.0) -> None:
    """SIGTERM ``pid`` (not a child of ours) and its descendants, SIGKILL whatever is left
    after ``grace``."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    stop_processes([root, *descendants(pid)], grace)


def processes_naming(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (a path unique to the harness)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if marker in " ".join(process.info["cmdline"] or ()):
            found.append(process.pid)
    return found


# --------------------------------------------------------------------------- reading


def _iptables(family: str) -> tuple[set[Chain], set[Rule]]:
    chains: set[Chain] = set()
    rules: set[Rule] = set()
    table = ""
    for line in str(sh.Command(f"{family}-save")()).splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            chains.add(Chain(family, table, line[1:].split()[0]))
        elif line.startswith("-A "):
            rules.add(Rule(family, table, line))
    return chains, rules


def _nft_tables() -> list[str]:
    """``family name`` per table, from ``nft list tables`` ("table inet foo" lines)."""
    lines = str(sh.nft("list", "tables")).splitlines()
    return [line.split(None, 1)[1] for line in lines if line.startswith("table ")]


def _drop_nft_table(table: str) -> None:
    """Delete a new nftables table, unless iptables owns it (``_restore_iptables`` does)."""
    family, name = table.split(None, 1)
    if family in {"ip", "ip6"} and name in {"filter", "nat", "mangle", "raw", "security"}:
        return
    sh.nft("delete", "table", family, name, _ok_code=[0, 1])


def _links() -> list[str]:
    return [name.split("@")[0] for name in os.listdir("/sys/class/net")]


def _netns() -> list[str]:
    folder = Path("/run/netns")
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def _mounts() -> list[str]:
    """Mount points in mount order (field 5 of mountinfo, octal escapes kept)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines]


def _cgroups() -> list[str]:
    """Cgroup folders two levels under each v1 hierarchy (where runc puts containers)."""
    found: list[str] = []
    if not CGROUP_ROOT.is_dir():
        return found
    for hierarchy in CGROUP_ROOT.iterdir():
        if not hierarchy.is_dir() or hierarchy.is_symlink():
            continue
        for first in _subfolders(hierarchy):
            found.append(str(first))
            found.extend(str(second) for second in _subfolders(first))
    return found


def _subfolders(folder: Path) -> Iterable[Path]:
    try:
        return [entry for entry in folder.iterdir() if entry.is_dir()]
    except OSError:
        return []


def _files() -> list[str]:
    found: list[str] = []
    for folder in WATCHED_FOLDERS:
        if folder.is_dir():
            for root, dirs, files in os.walk(folder):
                found.extend(os.path.join(root, name) for name in dirs + files)
    return found


def _sysctl(key: str) -> str:
    path = Path("/proc/sys") / key
    return path.read_text().strip() if path.exists() else ""


# --------------------------------------------------------------------------- restoring


def _ip(*args: str) -> None:
    sh.ip(*args, _ok_code=[0, 1])


def _restore_sysctls(before: HostState) -> None:
    for key, value in before.sysctls.items():
        if value and _sysctl(key) != value:
            (Path("/proc/sys") / key).write_text(value)


def _unmount(now: HostState, before: HostState) -> None:
    kept = set(before.mounts)
    for target in reversed(now.mounts):
        if target not in kept:
            path = target.encode().decode("unicode_escape")
            sh.umount("--lazy", path, _ok_code=[0, 1, 32])


def _restore_iptables(now: HostState, before: HostState) -> None:
    added = now.chains - before.chains
    owned = [c for c in added if OWNED.search(c.name)]
    for rule in sorted(now.rules - before.rules, key=lambda r: r.spec):
        # A rule in a chain of ours goes with the flush below; one in any other chain
        # (a built-in one, even of a table the node brought: ip6tables' filter on a
        # machine that had none) is deleted here, or its jump keeps our chain busy.
        chain = Chain(rule.family, rule.table, rule.chain)
        if chain not in owned and OWNED.search(rule.spec):
            args = ["-D", *shlex.split(rule.spec)[1:]]
            sh.Command(rule.family)("-w", "-t", rule.table, *args, _ok_code=[0, 1, 2])
    for chain in owned:
        sh.Command(chain.family)("-w", "-t", chain.table, "-F", chain.name, _ok_code=[0, 1])
    for chain in owned:
        sh.Command(chain.family)("-w", "-t", chain.table, "-X", chain.name, _ok_code=[0, 1])
    _drop_new_tables(before)


def _drop_new_tables(before: HostState) -> None:
    """Tables the node brought (the kubelet's canary makes ``mangle``), once empty again.

    iptables cannot delete a table; with the nf_tables backend ``nft`` can.
    """
    had = {(c.family, c.table) for c in before.chains}
    chains, rules = set(), set()
    for family in FAMILIES:
        found_chains, found_rules = _iptables(family)
        chains |= found_chains
        rules |= found_rules
    for family, table in sorted({(c.family, c.table) for c in chains} - had):
        custom = [
            c for c in chains if (c.family, c.table) == (family, table) and c.name not in BUILTIN
        ]
        if not custom and not [r for r in rules if (r.family, r.table) == (family, table)]:
            nft_family = "ip" if family == "iptables" else "ip6"
            sh.nft("delete", "table", nft_family, table, _ok_code=[0, 1])


def _remove_files(now: HostState, before: HostState) -> None:
    for name in sorted(now.files - before.files, key=len, reverse=True):
        path = Path(name)
        with suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()


def _remove_cgroup(folder: Path) -> None:
    """rmdir a cgroup and its (empty, process-free) children, deepest first."""
    if not folder.is_dir():
        return
    for root, dirs, _ in os.walk(folder, topdown=False):
        for name in dirs:
            with suppress(OSError):
                os.rmdir(os.path.join(root, name))
    with suppress(OSError):
        folder.rmdir()
