"""Reading the parts of this machine a real node changes, and removing the run's part.

The kubelet, kube-proxy, containerd and the CNI bridge plugin leave traces outside the
harness' own folder: iptables chains and rules (both families), the bridge's veths,
mounts, cgroups, kernel settings the kubelet tunes, and files under /var/lib/cni,
/var/log/containers and /run/containerd/s. ``capture()`` reads them before the node
starts; after it stops, ``restore(footprint, before)`` removes what the footprint
(``footprint.py``: the run's bridge, chain prefix, folders, container ids) says is the
run's, and ``leftovers(footprint, before)`` names whatever of it is still there (the
session fails on any). What anyone else made meanwhile is neither touched nor reported;
``changes(before)`` names it, for the record.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path

import psutil
import sh

from tests.support.kube.footprint import (
    NODE_SYSCTLS,
    WATCHED_FOLDERS,
    Chain,
    Footprint,
    Listing,
    Removal,
    Rule,
)
from tests.support.processes import descendants, stop_processes

CGROUP_ROOT = Path("/sys/fs/cgroup")
FAMILIES = ("iptables", "ip6tables")
OCTAL = re.compile(r"\\([0-7]{3})")


def capture() -> Listing:
    """The machine as it is now."""
    chains: set[Chain] = set()
    rules: set[Rule] = set()
    for family in FAMILIES:
        found_chains, found_rules = _iptables(family)
        chains |= found_chains
        rules |= found_rules
    return Listing(
        chains=frozenset(chains),
        rules=frozenset(rules),
        links=_links(),
        mounts=tuple(_mounts()),
        cgroups=frozenset(_cgroups()),
        files=_files(),
        sysctls={key: _sysctl(key) for key in NODE_SYSCTLS},
        nft_tables=frozenset(_nft_tables()),
    )


def restore(footprint: Footprint, before: Listing) -> None:
    """Remove the run's traces (the node's processes must be stopped)."""
    removal = footprint.ours(before, capture())
    steps: list[Callable[[], None]] = [
        *[lambda m=mount: _unmount(m) for mount in removal.mounts],
        lambda: _remove_iptables(removal),
        *[lambda t=table: _drop_nft_table(t) for table in removal.nft_tables],
        *[lambda n=link: _ip("link", "delete", n) for link in removal.links],
        *[lambda k=key, v=value: _write_sysctl(k, v) for key, value in removal.sysctls.items()],
        *[lambda f=name: _remove_file(Path(f)) for name in removal.files],
        *[lambda f=name: Path(f).rmdir() for name in removal.folders],
        *[lambda g=cgroup: _remove_cgroup(Path(g)) for cgroup in removal.cgroups],
    ]
    for step in steps:  # each step on its own: one failure must not keep the rest back
        try:
            step()
        except (sh.ErrorReturnCode, OSError) as exc:
            print(f"[host] restoring: {str(exc).strip()[-300:]}", file=sys.stderr)


def leftovers(footprint: Footprint, before: Listing) -> list[str]:
    """What of the run is still on the machine, one line each (empty when clean)."""
    now = capture()
    return footprint.ours(before, now).describe(now)


def changes(before: Listing) -> list[str]:
    """Everything that differs from ``before``, the run's or not (for the record only)."""
    now = capture()
    found = [f"iptables chain {c.family} -t {c.table} {c.name}" for c in now.chains - before.chains]
    found += [f"iptables rule {r.family} -t {r.table} {r.spec}" for r in now.rules - before.rules]
    found += [f"nftables table {name}" for name in now.nft_tables - before.nft_tables]
    found += [f"network link {name}" for name in set(now.links) - set(before.links)]
    found += [f"mount {path}" for path in set(now.mounts) - set(before.mounts)]
    found += [f"cgroup {path}" for path in now.cgroups - before.cgroups]
    found += [f"file {path}" for path in set(now.files) - set(before.files)]
    found += [
        f"sysctl {key} = {now.sysctls.get(key)} (was {value})"
        for key, value in before.sysctls.items()
        if now.sysctls.get(key) != value
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


def _links() -> dict[str, str]:
    """Link name -> the name of its master (bridge), or ""."""
    found = {}
    for name in os.listdir("/sys/class/net"):
        master = Path("/sys/class/net", name, "master")
        found[name] = os.path.basename(os.readlink(master)) if master.is_symlink() else ""
    return found


def _mounts() -> list[str]:
    """Mount points in mount order (field 5 of mountinfo, octal escapes decoded)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [OCTAL.sub(lambda m: chr(int(m[1], 8)), line.split()[4]) for line in lines]


def _cgroups() -> list[str]:
    """Cgroup folders up to two levels under each v1 hierarchy (where runc puts
    containers: ``/k8s.io/<id>`` or ``/<id>``)."""
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


def _files() -> dict[str, str]:
    """Every path in the watched folders -> symlink target, "/" (folder) or ""."""
    found: dict[str, str] = {}
    for folder in map(Path, WATCHED_FOLDERS):
        if folder.is_dir():
            found[str(folder)] = "/"
            for root, dirs, files in os.walk(folder):
                found.update({os.path.join(root, name): "/" for name in dirs})
                for name in files:
                    path = os.path.join(root, name)
                    found[path] = os.readlink(path) if os.path.islink(path) else ""
    return found


def _sysctl(key: str) -> str:
    path = Path("/proc/sys") / key
    return path.read_text().strip() if path.exists() else ""


# --------------------------------------------------------------------------- restoring


def _ip(*args: str) -> None:
    sh.ip(*args, _ok_code=[0, 1])


def _write_sysctl(key: str, value: str) -> None:
    (Path("/proc/sys") / key).write_text(value)


def _unmount(target: str) -> None:
    sh.umount("--lazy", target, _ok_code=[0, 1, 32])


def _remove_iptables(removal: Removal) -> None:
    """The run's rules in others' chains, then its chains (all flushed before any is
    deleted: they jump to each other), then the tables it brought, empty again."""
    for rule in removal.rules:
        args = ["-D", *shlex.split(rule.spec)[1:]]
        sh.Command(rule.family)("-w", "-t", rule.table, *args, _ok_code=[0, 1, 2])
    for flag in ("-F", "-X"):
        for chain in removal.chains:
            sh.Command(chain.family)("-w", "-t", chain.table, flag, chain.name, _ok_code=[0, 1])
    for family, table in removal.tables:
        # iptables cannot delete a table; with the nf_tables backend nft can.
        nft_family = "ip" if family == "iptables" else "ip6"
        sh.nft("delete", "table", nft_family, table, _ok_code=[0, 1])


def _drop_nft_table(table: str) -> None:
    family, name = table.split(None, 1)
    sh.nft("delete", "table", family, name, _ok_code=[0, 1])


def _remove_file(path: Path) -> None:
    with suppress(FileNotFoundError):
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
