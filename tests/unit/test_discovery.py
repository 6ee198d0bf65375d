"""verify.discovery's judgement: one target per annotated pod, every miss explained.

Payloads have the shapes kubectl and Prometheus 3.16 give (tests/fixtures/k8s-discovery
holds a pair recorded on the e2e_k8s real node); the scrape config is promkit's own
config/prometheus/prometheus-k8s.yml, so the relabel replay runs on the real rules.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.context import MockContext

from promkit.core.errors import ConfigError, PromkitError
from promkit.k8s import kubectl as kube
from promkit.verify import discovery, wait
from promkit.verify import round as rounds
from tests.support.mockctx import commands, result

ROOT = Path(__file__).resolve().parents[2]
CONFIG = (ROOT / "config" / "prometheus" / "prometheus-k8s.yml").read_text()
RECORDED = ROOT / "tests" / "fixtures" / "k8s-discovery"
JOB = "kubernetes-pods"


def pod(
    name: str,
    *,
    namespace: str = "promkit-sample",
    ip: str = "10.244.0.2",
    port: str | None = "8000",
    ports: tuple[int, ...] = (8000,),
    phase: str = "Running",
    ready: bool = True,
    scrape: str = "true",
    owner: str = "fastapi-app-744cd86fb4",
    path: str | None = None,
) -> dict[str, Any]:
    annotations = {"prometheus.io/scrape": scrape}
    if port is not None:
        annotations["prometheus.io/port"] = port
    if path is not None:
        annotations["prometheus.io/path"] = path
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": annotations,
            "ownerReferences": [{"kind": "ReplicaSet", "name": owner}],
        },
        "spec": {"containers": [{"name": "app", "ports": [{"containerPort": p} for p in ports]}]},
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def deployment(name: str, namespace: str = "promkit-sample", scrape: bool = True) -> dict[str, Any]:
    annotations = {"prometheus.io/scrape": "true"} if scrape else {}
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"metadata": {"annotations": annotations}}},
    }


def discovered(item: dict[str, Any], container_port: int) -> dict[str, str]:
    meta, status = item["metadata"], item["status"]
    labels = {
        "__meta_kubernetes_namespace": meta["namespace"],
        "__meta_kubernetes_pod_name": meta["name"],
        "__meta_kubernetes_pod_phase": status["phase"],
        "__meta_kubernetes_pod_container_port_number": str(container_port),
        "__address__": f"{status['podIP']}:{container_port}",
    }
    for key, value in meta["annotations"].items():
        name = key.replace(".", "_").replace("/", "_")
        labels[f"__meta_kubernetes_pod_annotation_{name}"] = value
    return labels


def active(item: dict[str, Any], port: int, path: str = "/metrics") -> dict[str, Any]:
    meta = item["metadata"]
    return {
        "discoveredLabels": discovered(item, port),
        "labels": {"job": JOB, "namespace": meta["namespace"], "pod": meta["name"]},
        "scrapePool": JOB,
        "scrapeUrl": f"http://{item['status']['podIP']}:{port}{path}",
        "health": "up",
    }


def dropped(item: dict[str, Any], port: int) -> dict[str, Any]:
    return {"discoveredLabels": discovered(item, port), "scrapePool": JOB}


def judge(
    items: list[dict[str, Any]],
    actives: list[Any],
    drops: list[Any] | None = None,
    config: str = CONFIG,
) -> Any:
    targets = {"activeTargets": actives, "droppedTargets": drops or []}
    return discovery.check_discovery({"items": items}, targets, config, JOB)


def test_one_target_per_running_annotated_pod_passes() -> None:
    app, worker = pod("app-1"), pod("worker-1", ip="10.244.0.3", port="8001", ports=(8001,))
    result = judge(
        [app, worker, deployment("fastapi-app")], [active(app, 8000), active(worker, 8001)]
    )
    assert result.ok, result.evidence
    assert "2 annotated pods, 2 active targets of job kubernetes-pods" in result.evidence
    assert "pod promkit-sample/app-1: one target http://10.244.0.2:8000/metrics" in result.evidence


def test_a_missing_replica_is_named_with_the_reason_nothing_was_discovered() -> None:
    one, two = pod("app-1"), pod("app-2", ip="10.244.0.4")
    result = judge([one, two], [active(one, 8000)])
    assert not result.ok
    assert result.evidence[0].startswith("pod promkit-sample/app-2 is MISSING: Prometheus has not")
    assert "RBAC" in result.evidence[0]


def test_a_port_annotation_naming_no_container_port_is_the_reason() -> None:
    wrong = pod("app-1", port="9999")
    result = judge([wrong], [], [dropped(wrong, 8000)])
    assert result.evidence[0] == (
        "pod promkit-sample/app-1 is MISSING: prometheus.io/port 9999 names no container "
        "port (declared: 8000)"
    )


def test_the_relabel_step_that_dropped_a_pod_is_replayed_from_the_config() -> None:
    # Port declared and annotated, but the pod is not Running in Prometheus' eyes yet:
    # the phase rule (step 2 of prometheus-k8s.yml) drops it.
    item = pod("app-1")
    labels = dropped(item, 8000)
    labels["discoveredLabels"]["__meta_kubernetes_pod_phase"] = "Pending"
    result = judge([item], [], [labels])
    assert result.evidence[0] == (
        "pod promkit-sample/app-1 is MISSING: dropped by relabel step 2 (keep on "
        "[__meta_kubernetes_pod_phase] regex 'Running')"
    )


def test_a_namespace_the_job_does_not_discover_is_the_reason() -> None:
    config = yaml.safe_load(CONFIG)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == JOB)
    job["kubernetes_sd_configs"][0]["namespaces"] = {"names": ["promkit-sample"]}
    item = pod("other-1", namespace="elsewhere")
    result = judge([item], [], config=yaml.safe_dump(config))
    assert result.evidence[0] == (
        "pod elsewhere/other-1 is MISSING: job kubernetes-pods only discovers namespaces "
        "promkit-sample: add elsewhere to its kubernetes_sd_configs namespaces"
    )


def test_a_pod_scraped_twice_is_duplicated() -> None:
    item = pod("app-1", ports=(8000, 8000))
    result = judge([item], [active(item, 8000), active(item, 8000, "/other")])
    assert result.evidence[0].startswith("pod promkit-sample/app-1 is DUPLICATED: 2 targets (")


def test_a_target_of_a_deleted_pod_is_stale() -> None:
    gone = pod("app-old", ip="10.244.0.9")
    result = judge([], [active(gone, 8000)])
    assert (
        "target http://10.244.0.9:8000/metrics is STALE: pod promkit-sample/app-old no "
        "longer exists" in result.evidence
    )


def test_a_target_at_an_old_pod_ip_is_stale() -> None:
    moved = pod("app-1", ip="10.244.0.7")
    old = active(pod("app-1", ip="10.244.0.5"), 8000)
    result = judge([moved], [old])
    assert any(
        "is STALE: pod promkit-sample/app-1 is now at 10.244.0.7" in line
        for line in result.evidence
    )


def test_a_wrong_path_is_named() -> None:
    item = pod("app-1", path="/custom/metrics")
    result = judge([item], [active(item, 8000, "/metrics")])
    assert result.evidence[0] == (
        "pod promkit-sample/app-1 is scraped at http://10.244.0.2:8000/metrics, expected "
        "10.244.0.2:8000/custom/metrics"
    )


def test_pods_not_running_or_not_annotated_are_not_expected() -> None:
    app, pending = pod("app-1"), pod("app-2", phase="Pending", ip="")
    opted_out = pod("other", scrape="false", ip="10.244.0.8")
    result = judge([app, pending, opted_out], [active(app, 8000)])
    assert result.ok, result.evidence
    assert "pod promkit-sample/app-2 is Pending: scraped once it runs" in result.evidence


def test_an_annotated_workload_without_any_target_is_a_warning() -> None:
    app = pod("app-1")
    result = judge(
        [app, deployment("fastapi-app"), deployment("scaled-to-zero")], [active(app, 8000)]
    )
    assert result.ok
    assert (
        "warning: Deployment/promkit-sample/scaled-to-zero asks to be scraped but produces no "
        "target (no Running pod, or none scraped)" in result.evidence
    )


def test_no_annotated_pod_at_all_fails() -> None:
    result = judge([deployment("x", scrape=False)], [])
    assert not result.ok
    assert 'no pod is annotated prometheus.io/scrape: "true"' in result.evidence[0]


def test_a_config_without_the_pod_discovery_job_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"set k8s\.discovery_job"):
        judge([], [], config="scrape_configs:\n  - job_name: prometheus\n")


def test_relabel_replay_stops_at_actions_it_does_not_model() -> None:
    rules = [{"action": "hashmod", "source_labels": ["a"], "modulus": 2, "target_label": "b"},
             {"action": "keep", "source_labels": ["a"], "regex": "never"}]  # fmt: skip
    assert discovery.dropping_step({"a": "x"}, rules) is None


def test_replace_with_go_style_groups_feeds_later_steps() -> None:
    rules = [
        {"action": "replace", "source_labels": ["a"], "regex": "(x)(y)", "replacement": "${2}$1",
         "target_label": "b"},
        {"action": "keep", "source_labels": ["b"], "regex": "yx"},
        {"action": "drop", "source_labels": ["b"], "regex": "y.*"},
    ]  # fmt: skip
    assert discovery.dropping_step({"a": "xy"}, rules) == (3, rules[2])


def test_the_recorded_real_node_payloads_pass() -> None:
    cluster = json.loads((RECORDED / "cluster.json").read_text())
    targets = json.loads((RECORDED / "targets.json").read_text())
    config = (RECORDED / "config.yml").read_text()
    result = discovery.check_discovery(cluster, targets, config, JOB)
    assert result.ok, result.evidence
    assert result.evidence[0].startswith("2 annotated pods, 2 active targets")


# --- reading the cluster (kube.scrape_candidates, through Invoke's runner) ---------------

RAW = "kubectl --context dev get --raw "
PODS = RAW + "/api/v1/pods"
WORKLOADS = (
    "kubectl --context dev get deployments.apps,statefulsets.apps,daemonsets.apps "
    "--all-namespaces -o json"
)
#: What ``kubectl get`` of several kinds prints: a List whose items carry kind and apiVersion.
NO_WORKLOADS = '{"apiVersion": "v1", "kind": "List", "items": []}'


def test_scrape_candidates_reads_pods_raw_and_the_workloads_at_once(
    mock_context: Callable[..., MockContext],
) -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    c = mock_context(
        {
            PODS: result('{"kind": "PodList", "items": [{"metadata": {}}]}'),
            WORKLOADS: result(json.dumps({"kind": "List", "items": [deployment]})),
        }
    )
    found = kube.scrape_candidates(c, "dev")
    assert found == {"kind": "List", "items": [{"metadata": {}, "kind": "Pod"}, deployment]}
    assert sorted(commands(c)) == [PODS, WORKLOADS]


def test_the_decoded_lists_are_kept_out_of_the_collectors_sweeps(
    mock_context: Callable[..., MockContext],
) -> None:
    c = mock_context(
        {PODS: result('{"items": [{"metadata": {}}]}'), WORKLOADS: result(NO_WORKLOADS)}
    )
    frozen = gc.get_freeze_count()
    try:
        kube.scrape_candidates(c, "dev")
        assert gc.get_freeze_count() > frozen, "what was decoded sits in the permanent generation"
        assert gc.isenabled(), "the collector runs again afterwards"
    finally:
        gc.unfreeze()


def test_the_reads_return_the_early_read_first_then_read_anew(
    mock_context: Callable[..., MockContext],
) -> None:
    c = mock_context(
        {PODS: result('{"items": [{"metadata": {"name": "p"}}]}'), WORKLOADS: result(NO_WORKLOADS)}
    )
    reads = kube.ClusterReads(c, "dev")
    assert reads.context_exists(), "kubectl read the workloads through the context"
    first = reads()
    assert len(commands(c)) == 2, "the first call waits for the early read"
    assert reads() == first
    assert len(commands(c)) == 4, "a --wait round reads anew"


def test_a_failed_first_read_proves_no_context(mock_context: Callable[..., MockContext]) -> None:
    missing = 'error: context "dev" does not exist'
    c = mock_context({PODS: result("", 1, missing), WORKLOADS: result("", 1, missing)})
    assert not kube.ClusterReads(c, "dev").context_exists()


@pytest.mark.parametrize(
    ("denied_read", "resource"), [(PODS, "pods"), (WORKLOADS, "daemonsets.apps")]
)
def test_a_context_that_may_not_list_them_says_which_permission(
    mock_context: Callable[..., MockContext], denied_read: str, resource: str
) -> None:
    denied = (
        f'Error from server (Forbidden): {resource} is forbidden: User "system:serviceaccount:'
        f'x:y" cannot list resource "{resource}" at the cluster scope'
    )
    answers = {PODS: result('{"items": []}'), WORKLOADS: result(NO_WORKLOADS)}
    c = mock_context({**answers, denied_read: result("", 1, denied)})
    with pytest.raises(PromkitError) as raised:
        kube.scrape_candidates(c, "dev")
    assert str(raised.value).startswith(
        "context dev may not list pods,deployments,statefulsets,daemonsets in all namespaces "
        f"(kubectl: Error from server (Forbidden): {resource} is forbidden"
    )
    assert str(raised.value).endswith("verify.discovery needs list on them cluster-wide")


def test_an_unknown_context_is_still_the_one_error_though_the_reads_started(
    mock_context: Callable[..., MockContext],
) -> None:
    from invoke.exceptions import Exit

    from promkit.tasks import verify as tasks

    c = mock_context(
        {
            r"^kubectl config get-contexts -o name$": result("dev\n"),
            r"^kubectl --context prod get ": result("", 1, 'error: context "prod" does not exist'),
        }
    )
    with pytest.raises(Exit) as raised:
        tasks.discovery(c, url="http://127.0.0.1:9", context="prod")
    assert raised.value.code == 2
    assert str(raised.value.message).startswith(
        "promkit: Kubernetes context 'prod' is not in your kubeconfig: available contexts are dev"
    )


def test_a_context_the_reads_went_through_is_not_looked_up_again(
    mock_context: Callable[..., MockContext],
) -> None:
    from invoke.exceptions import Exit

    from promkit.tasks import verify as tasks

    c = mock_context({PODS: result('{"items": []}'), WORKLOADS: result(NO_WORKLOADS)})
    with pytest.raises(Exit, match=r"cannot reach Prometheus at http://127\.0\.0\.1:9"):
        tasks.discovery(c, url="http://127.0.0.1:9", context="dev")
    assert sorted(commands(c)) == [PODS, WORKLOADS], "no kubectl config get-contexts"


# --- wiring: which rounds run it ---------------------------------------------------------


def test_discovery_is_a_known_check_reported_after_the_others() -> None:

    assert rounds.check_names(["discovery", "health"]) == ("health", "discovery")
    assert "discovery" not in rounds.NAMES, "verify.all without --context cannot read a cluster"
    assert rounds.KUBERNETES_NAMES == ("discovery",)


def test_discovery_without_a_cluster_to_read_asks_for_context() -> None:
    from promkit.core.settings import Expectations
    from promkit.verify.client import PrometheusClient

    client = PrometheusClient("http://127.0.0.1:9")  # never asked: it fails first
    with pytest.raises(ConfigError, match="give --context"):
        rounds.run_round(["discovery"], client, Expectations())


def test_a_young_server_may_still_discover_its_pods() -> None:
    from promkit.verify.checks import AC2
    from promkit.verify.result import CheckResult

    assert wait.time_may_fix([CheckResult("discovery", AC2, False, ["pod a/b is MISSING: ..."])])


def test_the_replay_on_a_recorded_dropped_target_names_the_annotation_rule() -> None:
    targets = json.loads((RECORDED / "targets.json").read_text())
    job = discovery.pod_discovery_job((RECORDED / "config.yml").read_text(), JOB)
    redis = next(
        t["discoveredLabels"]
        for t in targets["droppedTargets"]
        if t["discoveredLabels"].get("__meta_kubernetes_pod_label_app") == "redis"
    )
    index, rule = discovery.dropping_step(redis, job["relabel_configs"]) or (0, {})
    assert index == 1 and rule["action"] == "keep"
    assert rule["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]


# --- boundaries for the mutation run (docs/testing.md) -----------------------------------


@pytest.mark.parametrize("cluster", ["x", {}, {"items": "x"}])
def test_a_cluster_answer_that_is_no_list_is_unexpected(cluster: Any) -> None:
    with pytest.raises(
        PromkitError, match=r"^the cluster's answer is not a kubectl List \(no items\)$"
    ):
        discovery.annotated_pods(cluster)


def test_a_targets_answer_that_is_no_object_is_unexpected() -> None:
    with pytest.raises(
        PromkitError, match=r"^Prometheus answered an unexpected payload: targets data$"
    ):
        discovery.active_targets([], JOB)


def test_pods_read_with_their_defaults() -> None:
    bare = {"metadata": {"name": "p", "namespace": "n", "annotations": {discovery.SCRAPE: "true"}}}
    owned = pod("s-0", owner="x")
    owned["metadata"]["ownerReferences"] = [{"kind": "StatefulSet", "name": "s"}]
    owned["spec"]["containers"].append({"name": "side", "ports": [{"name": "no-number"}]})
    gone = pod("gone")
    gone["metadata"]["deletionTimestamp"] = "2026-12-07T00:00:00Z"
    items = [bare, owned, gone, pod("rs", owner="app-7d9f8-x"), "not an item"]
    found = discovery.annotated_pods({"items": items})
    assert found[0] == discovery.AnnotatedPod(
        "n", "p", "", "Unknown", False, "", "/metrics", (), "Pod/n/p"
    )
    assert (found[1].workload, found[1].container_ports) == (
        "StatefulSet/promkit-sample/s",
        (8000,),
    )
    assert found[2].workload == "Deployment/promkit-sample/app-7d9f8"
    assert len(found) == 3 and found[0].label == "n/p"
    assert discovery.live_pods({"items": [bare, gone]}) == {("n", "p"): ""}


def test_workloads_of_every_kind_that_ask_to_be_scraped() -> None:
    items = [
        {**deployment("s"), "kind": "StatefulSet"},
        {**deployment("d"), "kind": "DaemonSet"},
        {**deployment("r"), "kind": "ReplicaSet"},
        deployment("quiet", scrape=False),
    ]
    assert discovery.annotated_workloads({"items": items}) == [
        "StatefulSet/promkit-sample/s",
        "DaemonSet/promkit-sample/d",
    ]


def test_targets_are_tied_to_pods_by_pool_or_job_and_their_labels() -> None:
    targets = {
        "activeTargets": [
            {"labels": {"job": JOB, "namespace": "n", "pod": "p"}, "scrapeUrl": "http://a:1/m"},
            {
                "scrapePool": JOB,
                "discoveredLabels": {discovery._NAMESPACE: "m", discovery._POD: "q"},
            },
            {"labels": {"job": "other"}, "scrapePool": "other"},
        ]
    }
    found = discovery.active_targets(targets, JOB)
    assert [(t.namespace, t.pod, t.url) for t in found] == [
        ("n", "p", "http://a:1/m"),
        ("m", "q", ""),
    ]
    assert (found[0].address, found[0].host, found[0].path) == ("a:1", "a", "/m")
    assert (found[1].address, found[1].host, found[1].path) == ("", "", "/")


@pytest.mark.parametrize(
    ("rule", "labels", "kept"),
    [
        ({"action": "KEEP", "source_labels": ["a", "b"], "regex": "x;y"}, {"a": "x", "b": "y"}, True),  # noqa: E501
        ({"action": "keep", "source_labels": ["a", "b"], "separator": "-", "regex": "x-y"}, {"a": "x", "b": "y"}, True),  # noqa: E501
        ({"action": "keep", "source_labels": ["a"], "regex": "x"}, {"a": "xx"}, False),
        ({"action": "drop", "source_labels": ["a"]}, {"a": ""}, False),
        ({"action": "drop", "source_labels": ["a"], "regex": "x"}, {"a": "y"}, True),
        ({"action": "keepequal", "source_labels": ["a"], "target_label": "b"}, {"a": "1", "b": "1"}, True),  # noqa: E501
        ({"action": "keepequal", "source_labels": ["a"], "target_label": "b"}, {"a": "1", "b": "2"}, False),  # noqa: E501
        ({"action": "dropequal", "source_labels": ["a"], "target_label": "b"}, {"a": "1", "b": "1"}, False),  # noqa: E501
        ({"action": "dropequal", "source_labels": ["a"], "target_label": "b"}, {"a": "1"}, True),
    ],
)  # fmt: skip
def test_relabel_actions_keep_or_drop(rule: Any, labels: dict[str, str], kept: bool) -> None:
    assert discovery._apply(rule, dict(labels)) is kept


def test_replace_sets_or_removes_its_target_label() -> None:
    labels = {"a": "v", "b": "old", "c": "x"}
    assert discovery._apply({"source_labels": ["a"], "target_label": "t"}, labels)
    assert labels["t"] == "v"  # replace is the default action, $1 of (.*) the default value
    discovery._apply({"source_labels": ["missing"], "target_label": "b"}, labels)
    assert "b" not in labels  # an empty replacement removes the label
    discovery._apply({"source_labels": ["a"], "regex": "nope", "target_label": "c"}, labels)
    assert labels["c"] == "x"  # no match: unchanged
    discovery._apply({"source_labels": ["a"], "replacement": "r"}, labels)
    assert "r" not in labels.values()  # no target label: nothing set


def test_a_dropping_step_is_described_by_its_action() -> None:
    keep = {"action": "keep", "source_labels": ["a", "b"], "regex": "x"}
    equal = {"action": "dropequal", "source_labels": ["a"], "target_label": "t"}
    assert discovery._describe_rule(2, keep) == "relabel step 2 (keep on [a,b] regex 'x')"
    assert discovery._describe_rule(3, equal) == "relabel step 3 (dropequal on [a] target_label t)"
    assert discovery._describe_rule(1, {}) == "relabel step 1 (replace on [])"
    assert discovery.dropping_step({"a": "x"}, [{"regex": "("}]) is None
    assert discovery.dropping_step({"a": "x"}, [{"action": "drop", "source_labels": ["a"]}]) == (
        1,
        {"action": "drop", "source_labels": ["a"]},
    )


def test_the_pod_discovery_job_is_found_by_name_and_role() -> None:
    config = (
        "scrape_configs:\n  - x\n  - job_name: j\n    kubernetes_sd_configs: [{role: node}]\n"
        "  - job_name: j\n    kubernetes_sd_configs: [{role: node}, {role: pod}]\n"
    )
    assert discovery.pod_discovery_job(config, "j")["kubernetes_sd_configs"][1] == {"role": "pod"}
    with pytest.raises(ConfigError) as caught:
        discovery.pod_discovery_job(config, "k")
    assert str(caught.value) == (
        "Prometheus has no pod-discovery job 'k' (kubernetes_sd_configs with role: pod): "
        "set k8s.discovery_job to the job that discovers the annotated pods"
    )


def test_discovered_namespaces_are_all_unless_every_config_lists_some() -> None:
    listed = {"namespaces": {"names": ["b", "a"]}}
    assert discovery._discovered_namespaces({"kubernetes_sd_configs": [listed]}) == {"a", "b"}
    assert discovery._discovered_namespaces({"kubernetes_sd_configs": [listed, {}]}) is None
    assert discovery._discovered_namespaces({}) == set()


def _pod(**changes: Any) -> discovery.AnnotatedPod:
    fields = {"namespace": "n", "name": "p", "ip": "1.2.3.4", "phase": "Running", "ready": True,
              "port": "80", "path": "/metrics", "container_ports": (80,), "workload": "Pod/n/p"}  # fmt: skip  # noqa: E501
    return discovery.AnnotatedPod(**{**fields, **changes})


SCRAPE_JOB: dict[str, Any] = {"kubernetes_sd_configs": [{"role": "pod"}]}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"port": ""}, "its prometheus.io/port annotation is missing: give the port to scrape"),
        ({"port": "http"}, "its prometheus.io/port annotation is http: give the port to scrape"),
        ({"container_ports": (90, 81, 90)}, "prometheus.io/port 80 names no container port (declared: 81, 90)"),  # noqa: E501
        ({"container_ports": ()}, "Prometheus has not discovered it: may its ServiceAccount list pods in namespace n (RBAC)?"),  # noqa: E501
        ({"ready": False}, "Prometheus has not discovered it: may its ServiceAccount list pods in namespace n (RBAC)? (the pod is not Ready either)"),  # noqa: E501
    ],
)  # fmt: skip
def test_why_a_pod_is_missing(changes: dict[str, Any], reason: str) -> None:
    assert discovery.why_missing(_pod(**changes), {}, SCRAPE_JOB, JOB) == reason


def test_a_pod_outside_the_discovered_namespaces_or_dropped_by_a_step_it_cannot_replay() -> None:
    limited = {"kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["b", "a"]}}]}
    assert discovery.why_missing(_pod(), {}, limited, JOB) == (
        "job kubernetes-pods only discovers namespaces a, b: add n to its kubernetes_sd_configs "
        "namespaces"
    )
    labels = {discovery._NAMESPACE: "n", discovery._POD: "p", discovery._CONTAINER_PORT: "80"}
    other_port = {**labels, discovery._CONTAINER_PORT: "81", "a": "x"}
    targets = {"droppedTargets": [{"discoveredLabels": other_port}, {"discoveredLabels": labels}]}
    odd = {**SCRAPE_JOB, "relabel_configs": [{"action": "hashmod"}]}
    assert discovery.why_missing(_pod(), targets, odd, JOB) == (
        "discovered but dropped by job kubernetes-pods's relabel_configs"
    )
    keep_a = [{"action": "keep", "source_labels": ["a"], "regex": "x"}]
    by_port = {**SCRAPE_JOB, "relabel_configs": keep_a}
    assert discovery.why_missing(_pod(), targets, by_port, JOB) == (
        "dropped by relabel step 1 (keep on [a] regex 'x')"
    )  # the dropped target of the annotated port is the one replayed
    assert discovery.dropped_for({"droppedTargets": [{"discoveredLabels": labels, "scrapePool": "x"}]}, JOB, _pod()) == []  # fmt: skip  # noqa: E501


def test_the_passing_pods_are_listed_up_to_twenty() -> None:
    items = [pod(f"app-{i:02}", ip=f"10.0.0.{i}") for i in range(21)]
    result = judge(items, [active(item, 8000) for item in items])
    assert result.ok and result.evidence[-1] == "... and 1 more pods scraped once"
    result = judge(items[:20], [active(item, 8000) for item in items[:20]])
    assert result.evidence[0] == "20 annotated pods, 20 active targets of job kubernetes-pods"
    assert len(result.evidence) == 21 and result.evidence[-1].startswith(
        "pod promkit-sample/app-19"
    )


def test_a_pod_not_running_duplicated_or_at_another_address_is_named() -> None:
    pending, twice, moved = pod("a", phase="Pending"), pod("b"), pod("c", ip="10.0.0.9")
    actives = [active(twice, 8000), active(twice, 8000, "/other"), active(moved, 8001)]
    result = judge([pending, twice, moved], actives)
    assert result.evidence[:2] == [
        "pod promkit-sample/b is DUPLICATED: 2 targets (http://10.244.0.2:8000/metrics, "
        "http://10.244.0.2:8000/other)",
        "pod promkit-sample/c is scraped at http://10.0.0.9:8001/metrics, expected "
        "10.0.0.9:8000/metrics",
    ]
    assert "pod promkit-sample/a is Pending: scraped once it runs" in result.evidence


# --- the survivors of the first mutation run (docs/testing.md) ---------------------------


def test_owners_and_names_missing_read_as_empty() -> None:
    assert discovery._workload({}) == "Pod//"
    assert discovery._workload({"ownerReferences": [{}]}) == "//"
    assert discovery._workload({"namespace": "n", "ownerReferences": [{"kind": "ReplicaSet"}]}) == (
        "Deployment/n/"
    )


def test_a_dropped_target_is_tied_by_its_discovered_labels_else_its_labels() -> None:
    labels = {discovery._NAMESPACE: "n", discovery._POD: "p"}
    targets = {
        "droppedTargets": [
            {"labels": labels},
            {"discoveredLabels": {**labels, "job": JOB}},
            {"discoveredLabels": {**labels, "job": "other"}},
            {"discoveredLabels": "not labels", "labels": labels},
            {"discoveredLabels": {discovery._NAMESPACE: "n", discovery._POD: "q"}},
        ]
    }
    assert discovery.dropped_for(targets, JOB, _pod()) == [labels, {**labels, "job": JOB}]


def test_equality_actions_read_a_missing_label_as_empty() -> None:
    keep = {"action": "keepequal", "source_labels": ["a"], "target_label": "b"}
    assert discovery._apply(keep, {}) is True
    assert discovery._apply({**keep, "action": "dropequal"}, {"a": ""}) is False


def test_replace_removing_a_label_that_is_not_there() -> None:
    labels = {"a": "v"}
    assert discovery._apply({"source_labels": ["none"], "target_label": "t"}, labels) is True
    assert labels == {"a": "v"}


def test_the_default_action_is_replace_whatever_its_case() -> None:
    labels = {"a": "v"}
    assert discovery._apply({"action": "", "source_labels": ["a"], "target_label": "t"}, labels)
    assert discovery._apply(
        {"action": "Replace", "source_labels": ["a"], "target_label": "u"}, labels
    )
    assert labels == {"a": "v", "t": "v", "u": "v"}


def test_drop_and_keepequal_steps_are_described_with_their_detail() -> None:
    drop = {"action": "drop", "source_labels": ["a"], "regex": "x"}
    keep = {"action": "keepequal", "source_labels": ["a", "b"], "target_label": "t"}
    assert discovery._describe_rule(4, drop) == "relabel step 4 (drop on [a] regex 'x')"
    assert discovery._describe_rule(5, keep) == "relabel step 5 (keepequal on [a,b] target_label t)"


def test_the_verdict_is_named_discovery_under_ac2() -> None:
    item = pod("app-1")
    result = judge([item], [active(item, 8000)])
    assert (result.name, result.criterion, result.ok) == (
        "discovery",
        "AC2 scrapes every app/worker",
        True,
    )


def test_only_pods_are_pods_whatever_else_is_annotated() -> None:
    service = {
        "kind": "Service",
        "metadata": {"name": "svc", "namespace": "n", "annotations": {discovery.SCRAPE: "true"}},
    }
    ready = pod("app-1")
    unready = pod("app-2", ready=False)
    unready["status"]["conditions"].insert(0, {"type": "PodScheduled", "status": "True"})
    found = discovery.annotated_pods({"items": [service, ready, unready]})
    assert [(p.name, p.ready) for p in found] == [("app-1", True), ("app-2", False)]
    live = discovery.live_pods({"items": [service, deployment("d"), {"metadata": {"name": "p"}}]})
    assert live == {("", "p"): ""}
    assert discovery.live_pods({"items": [{"metadata": {"namespace": "n"}}]}) == {("n", ""): ""}


def test_a_workload_without_a_name_is_still_named_by_kind() -> None:
    nameless = {"kind": "DaemonSet", "spec": {"template": deployment("x")["spec"]["template"]}}
    assert discovery.annotated_workloads({"items": [nameless]}) == ["DaemonSet//"]


def test_targets_of_other_jobs_are_skipped_not_the_end() -> None:
    targets = {
        "activeTargets": [
            {"labels": {"job": "other"}, "scrapePool": "other"},
            {"labels": {"job": JOB}, "scrapeUrl": "http://a:1/m"},
        ]
    }
    found = discovery.active_targets(targets, JOB)
    assert [(t.namespace, t.pod, t.url) for t in found] == [("", "", "http://a:1/m")]


def test_a_target_of_a_pod_that_is_not_annotated_is_a_warning() -> None:
    annotated = pod("app-1")
    opted_out = pod("other", scrape="false", ip="10.244.0.8")
    result = judge([annotated, opted_out], [active(annotated, 8000), active(opted_out, 8000)])
    assert result.ok is True
    assert result.evidence[0] == (
        "warning: target http://10.244.0.8:8000/metrics scrapes pod promkit-sample/other, which "
        'is not annotated prometheus.io/scrape: "true"'
    )


def test_an_annotated_pod_without_namespace_or_name_reads_them_as_empty() -> None:
    anonymous = {"metadata": {"annotations": {discovery.SCRAPE: "true", discovery.PORT: "80"}}}
    assert discovery.annotated_pods({"items": [anonymous]}) == [
        discovery.AnnotatedPod("", "", "", "Unknown", False, "80", "/metrics", (), "Pod//")
    ]
