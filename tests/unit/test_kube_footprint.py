"""The e2e_k8s harness' footprint: given the machine before and after a run, what is the run's.

Pure logic over listings (tests/support/kube/footprint.py): nothing here reads the machine.
Every case puts a bystander next to the run's traces: another bridge, namespace, mount,
container, chain or file that appeared meanwhile, which must never be selected.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.support.kube.footprint import (
    CONTAINER_LOGS,
    SHIM_SOCKETS,
    Chain,
    Footprint,
    Listing,
    Rule,
    ids_in_log,
)

ROOT = "/tmp/pytest-of-root/pytest-7/cluster0"
SOCKET = f"{ROOT}/node/containerd/containerd.sock"
OURS, THEIRS = "a" * 64, "b" * 64
RUN = Footprint(200, (ROOT,), socket=SOCKET, container_ids=frozenset({OURS}))


def nat(name: str, family: str = "iptables") -> Chain:
    return Chain(family, "nat", name)


def rule(spec: str, table: str = "filter", family: str = "iptables") -> Rule:
    return Rule(family, table, spec)


def test_mounts_under_the_runs_folder_only_last_mounted_first() -> None:
    now = Listing(
        mounts=(
            "/",
            f"{ROOT}/node/containerd/state/io.containerd.grpc.v1.cri/netns/cni-1",
            "/run/netns/bystander",
            f"{ROOT}1/elsewhere",  # a sibling folder whose name starts the same
            f"{ROOT}/node/kubelet/pods/x/volumes/data",
        )
    )
    assert RUN.mounts(now) == (
        f"{ROOT}/node/kubelet/pods/x/volumes/data",
        f"{ROOT}/node/containerd/state/io.containerd.grpc.v1.cri/netns/cni-1",
    )


def test_the_bridge_and_its_veths_never_another_bridge_or_docker_veth() -> None:
    now = Listing(
        links={
            "lo": "",
            "docker0": "",
            "vethdocker": "docker0",
            "bys1": "",
            "pke2e200": "",
            "veth1234": "pke2e200",
            "pke2e201": "",  # another run's bridge
            "veth5678": "pke2e201",
        }
    )
    assert RUN.links(now) == ("veth1234", "pke2e200")
    assert RUN.links(Listing(links={"docker0": ""})) == ()


def test_chains_the_runs_prefix_and_kube_chains_only_if_absent_before() -> None:
    before = Listing(chains=frozenset({nat("KUBE-SERVICES"), nat("DOCKER")}))
    now = Listing(
        chains=frozenset(
            {
                nat("KUBE-SERVICES"),  # someone's kube-proxy had it: not ours
                nat("DOCKER"),
                nat("KUBE-SVC-ABC"),
                Chain("ip6tables", "mangle", "KUBE-KUBELET-CANARY"),
                Chain("iptables", "filter", "PKE2E-200-IN"),
                Chain("iptables", "filter", "PKE2E-201-IN"),  # another run's
                Chain("iptables", "filter", "BYSTANDER"),  # new, but not a node's name
            }
        )
    )
    assert sorted(c.name for c in RUN.chains(before, now)) == [
        "KUBE-KUBELET-CANARY",
        "KUBE-SVC-ABC",
        "PKE2E-200-IN",
    ]


def test_rules_jumping_to_our_chains_or_naming_our_bridge_and_addresses() -> None:
    chains = {Chain("iptables", "filter", "PKE2E-200-IN"), nat("KUBE-POSTROUTING")}
    kept = rule("-A INPUT -j KUBE-FIREWALL")  # there before: someone else's
    before = Listing(rules=frozenset({kept}))
    mine = [
        rule("-A INPUT -j PKE2E-200-IN"),
        rule('-A POSTROUTING -m comment --comment "k8s postrouting" -j KUBE-POSTROUTING', "nat"),
        rule("-A KUBE-SERVICES -d 10.245.200.10/32 -p tcp -j KUBE-SVC-X", table="nat"),
        rule("-A FORWARD -o pke2e200 -j ACCEPT"),
    ]
    others = [
        rule("-A DOCKER -d 172.17.0.2/32 -p tcp -j ACCEPT"),
        rule("-A FORWARD -o pke2e2000 -j ACCEPT"),
        rule("-A FORWARD -s 10.244.201.0/24 -j ACCEPT"),
        rule("-A PKE2E-200-IN -i lo -j RETURN"),  # goes with its chain's flush
        rule("-A INPUT -j PKE2E-200-IN", family="ip6tables"),  # no such chain of ours
    ]
    now = Listing(rules=frozenset({kept, *mine, *others}))
    assert set(RUN.rules(before, now, chains)) == set(mine)


def test_a_table_the_run_brought_goes_once_empty_not_one_in_use_or_had_before() -> None:
    canary = Chain("iptables", "mangle", "KUBE-KUBELET-CANARY")
    before = Listing(chains=frozenset({Chain("iptables", "filter", "INPUT")}))
    brought = [canary, Chain("iptables", "mangle", "PREROUTING")]
    used = [
        Chain("ip6tables", "mangle", "KUBE-KUBELET-CANARY"),
        Chain("ip6tables", "mangle", "OUTPUT"),
    ]
    bystander_rule = rule("-A OUTPUT -j MARK --set-mark 1", table="mangle", family="ip6tables")
    now = Listing(
        chains=frozenset({*before.chains, *brought, *used}),
        rules=frozenset({bystander_rule}),
    )
    removal = RUN.ours(before, now)
    assert removal.tables == (("iptables", "mangle"),)
    assert set(removal.chains) == {canary, used[0]}


def test_cni_cache_log_links_and_shim_sockets_by_network_and_container_id() -> None:
    ours_socket = hashlib.sha256(f"{SOCKET}/k8s.io/{OURS}".encode()).hexdigest()
    theirs_socket = hashlib.sha256(f"/run/containerd/containerd.sock/moby/{THEIRS}".encode())
    files = {
        "/var/lib/cni": "/",
        "/var/lib/cni/results": "/",
        f"/var/lib/cni/results/pke2e200-{OURS}-eth0": "",
        f"/var/lib/cni/results/cbr0-{THEIRS}-eth0": "",
        f"/var/lib/cni/results/pke2e2000-{THEIRS}-eth0": "",
        CONTAINER_LOGS: "/",
        f"{CONTAINER_LOGS}/app_ns_c-{OURS}.log": f"{ROOT}/node/pod-logs/ns_app_1/c/0.log",
        f"{CONTAINER_LOGS}/other_ns_c-{THEIRS}.log": "/var/log/pods/ns_other_2/c/0.log",
        SHIM_SOCKETS: "/",
        f"{SHIM_SOCKETS}/{ours_socket}": "",
        f"{SHIM_SOCKETS}/{theirs_socket.hexdigest()}": "",
    }
    assert set(RUN.files(Listing(files=files))) == {
        f"/var/lib/cni/results/pke2e200-{OURS}-eth0",
        f"{CONTAINER_LOGS}/app_ns_c-{OURS}.log",
        f"{SHIM_SOCKETS}/{ours_socket}",
    }


def test_folders_brought_by_the_run_go_only_when_nothing_else_is_inside() -> None:
    ours = f"/var/lib/cni/results/pke2e200-{OURS}-eth0"
    before = Listing(files={"/var/log/containers": "/"})
    alone = {"/var/lib/cni": "/", "/var/lib/cni/results": "/", ours: ""}
    assert RUN.ours(before, Listing(files=alone)).folders == (
        "/var/lib/cni/results",
        "/var/lib/cni",
    )
    shared = {**alone, "/var/lib/cni/results/cbr0-x-eth0": ""}
    assert RUN.ours(before, Listing(files=shared)).folders == ()
    assert RUN.ours(before, Listing(files=shared)).files == (ours,)


def test_cgroups_by_container_id_and_the_parent_they_brought() -> None:
    memory = "/sys/fs/cgroup/memory"
    before = Listing(cgroups=frozenset({f"{memory}/docker"}))
    now = Listing(
        cgroups=frozenset(
            {
                f"{memory}/docker",
                f"{memory}/docker/{THEIRS}",
                f"{memory}/k8s.io",
                f"{memory}/k8s.io/{OURS}",
                "/sys/fs/cgroup/pids/k8s.io",
                f"/sys/fs/cgroup/pids/k8s.io/{OURS}",
                f"/sys/fs/cgroup/pids/k8s.io/{THEIRS}",  # someone else's k8s.io container
            }
        )
    )
    assert RUN.cgroups(before, now) == (
        f"{memory}/k8s.io/{OURS}",
        f"/sys/fs/cgroup/pids/k8s.io/{OURS}",
        f"{memory}/k8s.io",
    )


@pytest.mark.parametrize(
    ("before", "now", "restored"),
    [
        ("0", "1", {"vm/overcommit_memory": "0"}),  # the kubelet set it
        ("0", "2", {}),  # someone else's value: left as it is
        ("1", "1", {}),  # was already so
    ],
)
def test_a_kernel_setting_is_put_back_only_if_the_node_set_it(
    before: str, now: str, restored: dict[str, str]
) -> None:
    assert (
        RUN.sysctls(
            Listing(sysctls={"vm/overcommit_memory": before}),
            Listing(sysctls={"vm/overcommit_memory": now}),
        )
        == restored
    )


def test_nothing_of_the_run_left_is_no_removal_whatever_else_changed() -> None:
    before = Listing(chains=frozenset({Chain("iptables", "filter", "INPUT")}))
    now = Listing(
        chains=frozenset({*before.chains, Chain("iptables", "filter", "DOCKER-USER")}),
        links={"bys1": "", "vethdocker": "docker0"},
        mounts=("/run/netns/bystander", "/tmp/bystander/mnt"),
        cgroups=frozenset({f"/sys/fs/cgroup/memory/docker/{THEIRS}"}),
        files={"/var/lib/cni": "/", "/var/lib/cni/results/cbr0-x-eth0": ""},
        sysctls={"vm/overcommit_memory": "2"},
        nft_tables=frozenset({"inet bystander"}),
    )
    removal = RUN.ours(before, now)
    assert not removal, removal.describe(now)
    assert removal.describe(now) == []


def test_leftovers_name_each_kind() -> None:
    now = Listing(
        links={"pke2e200": ""},
        mounts=(f"{ROOT}/netns/cni-1",),
        chains=frozenset({Chain("iptables", "filter", "PKE2E-200-FWD")}),
        nft_tables=frozenset({"ip kube-proxy"}),
    )
    assert RUN.ours(Listing(), now).describe(now) == [
        f"mount {ROOT}/netns/cni-1",
        "iptables chain iptables -t filter PKE2E-200-FWD",
        "iptables table iptables filter (empty)",  # absent before: it brought it
        "nftables table ip kube-proxy",
        "network link pke2e200",
    ]


def test_ids_from_containerds_log_and_more_ids_widen_the_footprint() -> None:
    log = (
        'level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:p,} returns sandbox id '
        f'\\"{OURS}\\""\n'
        f'level=info msg="CreateContainer within sandbox \\"{OURS}\\" for &ContainerMetadata'
        f'{{Name:c,}} returns container id \\"{THEIRS}\\""\n'
        f'level=info msg="StartContainer for \\"{"c" * 64}\\" returns successfully"\n'
    )
    assert ids_in_log(log) == {OURS, THEIRS}
    wider = RUN.with_ids({THEIRS})
    assert wider.container_ids == {OURS, THEIRS} and RUN.container_ids == {OURS}
    assert (RUN.bridge, RUN.network, RUN.chain_prefix) == ("pke2e200", "pke2e200", "PKE2E-200-")
