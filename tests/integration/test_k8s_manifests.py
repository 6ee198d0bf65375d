"""check.manifests over the real k8s/ tree and over deliberately broken copies of it.

Every check runs the real tools: `kubectl kustomize`, kubernetes-validate's
bundled schemas and promtool (a Prometheus 3 build: scripts/build-prometheus3.sh).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from promkit.core.errors import PromkitError, ValidationError
from promkit.core.settings import ROOT
from promkit.k8s import kubectl as kube
from promkit.k8s import manifests
from promkit.rules import files as rules
from promkit.tasks import kubernetes
from tests.support.mockctx import promkit_config

Edit = Callable[[str], str]


def real_context(**k8s: Any) -> Context:
    """A real Invoke context (commands really run) with promkit's settings."""
    return Context(config=promkit_config(k8s=k8s))


def broken_copy(tmp_path: Path, edits: dict[str, Edit]) -> Path:
    """Copy k8s/ and config/prometheus/ side by side, apply ``edits`` (path -> function)."""
    shutil.copytree(ROOT / "k8s", tmp_path / "k8s")
    shutil.copytree(ROOT / "config/prometheus", tmp_path / "config/prometheus")
    for relative, edit in edits.items():
        path = tmp_path / relative
        before = path.read_text()
        after = edit(before)
        assert after != before, f"edit of {relative} changed nothing: the test is stale"
        path.write_text(after)
    return tmp_path / "k8s"


def problems_of(kustomization: Path, **k8s: Any) -> list[str]:
    c = real_context(kustomization=str(kustomization), **k8s)
    return manifests.check(c, c.config).problems


def replace(old: str, new: str, count: int = 1) -> Edit:
    def edit(text: str) -> str:
        assert old in text, f"{old!r} not found: the test is stale"
        return text.replace(old, new, count)

    return edit


def by_kind(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


# --- the real tree -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_tree() -> manifests.Checked:
    c = real_context()
    return manifests.check(c, c.config)


def test_every_pod_carries_the_part_of_label(real_tree: manifests.Checked) -> None:
    # destroy.k8s deletes by it, and a failed verify --report finds the pods' logs by it.
    key, value = kube.PART_OF.split("=")
    deployments = [o for o in real_tree.objects if o["kind"] == "Deployment"]
    assert len(deployments) == 4
    for obj in deployments:
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert labels.get(key) == value, obj["metadata"]["name"]
        assert key not in obj["spec"]["selector"]["matchLabels"]  # selectors are immutable


def test_real_tree_has_no_problems(real_tree: manifests.Checked) -> None:
    assert real_tree.problems == []
    kinds = sorted({o["kind"] for o in real_tree.objects})
    assert kinds == [
        "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Namespace",
        "NetworkPolicy", "PersistentVolumeClaim", "Service", "ServiceAccount",
    ]  # fmt: skip


def test_every_object_is_labelled_for_destroy(real_tree: manifests.Checked) -> None:
    unlabelled = [
        manifests.describe(o)
        for o in real_tree.objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") != "promkit"
    ]
    assert unlabelled == []


def test_prometheus_deployment_is_what_the_issue_asks(real_tree: manifests.Checked) -> None:
    deployment = by_kind(real_tree.objects, "Deployment", "prometheus")
    assert deployment["metadata"]["namespace"] == "monitoring"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "prom/prometheus:v3.16.0"
    assert container["args"] == [
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--storage.tsdb.retention.time=30d",
    ]
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert (liveness["httpGet"]["path"], liveness["initialDelaySeconds"]) == ("/-/healthy", 30)
    assert liveness["periodSeconds"] == 10
    assert (readiness["httpGet"]["path"], readiness["initialDelaySeconds"]) == ("/-/ready", 5)
    assert readiness["periodSeconds"] == 5
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "500m", "memory": "1Gi"},
    }
    assert pod["securityContext"]["runAsUser"] == 65534
    assert pod["securityContext"]["fsGroup"] == 65534
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/prometheus"]]["persistentVolumeClaim"]["claimName"] == "prometheus-data"
    # The hash-suffixed generated ConfigMap is what the pod mounts: a config edit rolls it.
    config_map = volumes[mounts["/etc/prometheus"]]["configMap"]["name"]
    assert re.fullmatch(r"prometheus-config-[a-z0-9]{10}", config_map)
    assert (
        by_kind(real_tree.objects, "ConfigMap", config_map)["data"]["prometheus.yml"]
        == (ROOT / "config/prometheus/prometheus-k8s.yml").read_text()
    )


def test_storage_service_and_network_policy(real_tree: manifests.Checked) -> None:
    pvc = by_kind(real_tree.objects, "PersistentVolumeClaim", "prometheus-data")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert "storageClassName" not in pvc["spec"]
    service = by_kind(real_tree.objects, "Service", "prometheus")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["name"] == "web"
    assert service["spec"]["ports"][0]["port"] == 9090
    policy = by_kind(real_tree.objects, "NetworkPolicy", "prometheus")
    assert policy["metadata"]["namespace"] == "monitoring"
    assert policy["spec"]["ingress"] == [
        {"from": [{"podSelector": {}}], "ports": [{"port": "web", "protocol": "TCP"}]}
    ]


def test_rbac_reads_pods_only(real_tree: manifests.Checked) -> None:
    role = by_kind(real_tree.objects, "ClusterRole", "promkit-prometheus")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}]
    binding = by_kind(real_tree.objects, "ClusterRoleBinding", "promkit-prometheus")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}
    ]
    deployment = by_kind(real_tree.objects, "Deployment", "prometheus")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "prometheus"


@pytest.mark.parametrize(("name", "port"), [("fastapi-app", "8000"), ("celery-workers", "8001")])
def test_app_pods_opt_in_to_scraping_on_a_declared_port(
    real_tree: manifests.Checked, name: str, port: str
) -> None:
    deployment = by_kind(real_tree.objects, "Deployment", name)
    assert deployment["metadata"]["namespace"] == "promkit-sample"
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": port,
        "prometheus.io/path": "/metrics",
    }
    assert template["metadata"]["labels"]["app"] == name
    # prometheus-k8s.yml keeps only the declared port equal to the annotation.
    declared = [p["containerPort"] for c in template["spec"]["containers"] for p in c["ports"]]
    assert declared == [int(port)]


# --- broken copies -----------------------------------------------------------------------

PROM = "k8s/prometheus/deployment.yaml"
APP = "k8s/sample-app/app.yaml"
WHERE_PROM = "Deployment monitoring/prometheus container prometheus"
WHERE_APP = "Deployment promkit-sample/fastapi-app container app"

BROKEN: dict[str, tuple[dict[str, Edit], str]] = {
    "latest image": (
        {PROM: replace("prom/prometheus:v3.16.0", "prom/prometheus:latest")},
        f"{WHERE_PROM}: image prom/prometheus:latest is not pinned (use a version tag or digest)",
    ),
    "untagged image": (
        {"k8s/sample-app/redis.yaml": replace("redis:7.4.1-alpine", "docker.io/library/redis")},
        "Deployment promkit-sample/redis container redis: image docker.io/library/redis "
        "is not pinned (use a version tag or digest)",
    ),
    "missing limits": (
        {
            APP: replace(
                "            limits:\n              cpu: 500m\n              memory: 256Mi\n", ""
            )
        },
        f"{WHERE_APP}: no resources.limits.cpu, resources.limits.memory "
        "(set requests and limits for cpu and memory)",
    ),
    "root user": (
        {PROM: replace("runAsUser: 65534", "runAsUser: 0")},
        f"{WHERE_PROM}: securityContext.runAsUser is 0 (root): set a non-zero UID",
    ),
    "runAsNonRoot off": (
        {PROM: replace("runAsNonRoot: true", "runAsNonRoot: false")},
        f"{WHERE_PROM}: may run as root: set securityContext.runAsNonRoot: true",
    ),
    "writable root filesystem": (
        {APP: replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")},
        f"{WHERE_APP}: root filesystem is writable: set securityContext.readOnlyRootFilesystem: "
        "true",
    ),
    "privilege escalation": (
        {APP: replace("            allowPrivilegeEscalation: false\n", "")},
        f"{WHERE_APP}: may gain privileges: set securityContext.allowPrivilegeEscalation: false",
    ),
    "capabilities kept": (
        {PROM: replace("drop: [ALL]", "drop: [NET_RAW]")},
        f"{WHERE_PROM}: keeps Linux capabilities: set securityContext.capabilities.drop: [ALL]",
    ),
    "no seccomp": (
        {PROM: replace("        seccompProfile:\n          type: RuntimeDefault\n", "")},
        f"{WHERE_PROM}: no seccomp profile: set securityContext.seccompProfile.type: "
        "RuntimeDefault",
    ),
    "no readiness probe": (
        {APP: replace("          readinessProbe:", "          startupProbe:")},
        f"{WHERE_APP}: no readinessProbe: add one so Kubernetes knows when it is healthy",
    ),
    "exposed service": (
        {"k8s/prometheus/service.yaml": replace("type: ClusterIP", "type: LoadBalancer")},
        "Service monitoring/prometheus: type LoadBalancer exposes it outside the cluster (use "
        "ClusterIP and `inv k8s.port-forward`, or set k8s.allow_exposed_services)",
    ),
    "invalid field": (
        {PROM: replace("  replicas: 1", "  replica: 1")},
        "Deployment monitoring/prometheus: spec: Additional properties are not allowed "
        "('replica' was unexpected) (Kubernetes 1.32 schema)",
    ),
    "invalid value type": (
        {APP: replace("containerPort: 8000", "containerPort: eight-thousand")},
        "Deployment promkit-sample/fastapi-app: "
        "spec.template.spec.containers.0.ports.0.containerPort: 'eight-thousand' is not of "
        "type 'integer' (Kubernetes 1.32 schema)",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_copy_is_caught_with_its_message(tmp_path: Path, case: str) -> None:
    edits, expected = BROKEN[case]
    problems = problems_of(broken_copy(tmp_path, edits))
    assert expected in problems
    # Exactly the broken rule is reported, not a cascade of unrelated lines.
    assert len(problems) == 1, problems


def test_bad_relabel_regex_is_caught_by_promtool(tmp_path: Path) -> None:
    edit = replace("        regex: Running", '        regex: "Run(ning"')
    problems = problems_of(broken_copy(tmp_path, {"config/prometheus/prometheus-k8s.yml": edit}))
    assert len(problems) == 1, problems
    assert re.fullmatch(
        r"ConfigMap monitoring/prometheus-config-\w+: prometheus.yml is invalid: .*"
        r"error parsing regexp: missing closing \).*",
        problems[0],
    ), problems[0]


# --- the rule files the ConfigMap carries ------------------------------------------------

RULES = "config/prometheus/rules/sample-service.rules.yml"
ITEM = (
    "              - key: sample-service.rules.yml\n"
    "                path: rules/sample-service.rules.yml\n"
)


def folders_of(kustomization: Path) -> list[manifests.ConfigFolder]:
    return manifests.config_folders(manifests.render(real_context(), kustomization), kustomization)


def test_the_configmap_carries_the_rules_where_rule_files_finds_them() -> None:
    (folder,) = folders_of(ROOT / "k8s")
    assert folder.owner.startswith("ConfigMap monitoring/prometheus-config-")
    assert sorted(folder.files) == ["prometheus.yml", "rules/sample-service.rules.yml"]
    assert folder.files["rules/sample-service.rules.yml"] == (ROOT / RULES).read_text()
    assert folder.sources == {
        "prometheus.yml": str((ROOT / "config/prometheus/prometheus-k8s.yml").resolve()),
        "rules/sample-service.rules.yml": str((ROOT / RULES).resolve()),
    }
    assert folder.problems == []
    manifests.check_rule_files([folder])


def test_a_rule_file_the_deployment_does_not_mount_is_a_problem(tmp_path: Path) -> None:
    tree = broken_copy(tmp_path, {PROM: replace(ITEM, "")})
    (folder,) = folders_of(tree)
    assert folder.problems == [
        f"{folder.owner}: key sample-service.rules.yml is not mounted by the Deployment's "
        "config volume (add an item for it, e.g. path rules/sample-service.rules.yml)"
    ]
    assert sorted(folder.files) == ["prometheus.yml"]


def test_a_rule_file_beside_the_config_that_the_configmap_lacks_is_a_problem(
    tmp_path: Path,
) -> None:
    tree = broken_copy(tmp_path, {})
    extra = tmp_path / "config/prometheus/rules/more.rules.yml"
    extra.write_text("groups: []\n")
    problems = problems_of(tree)
    assert len(problems) == 1, problems
    assert re.fullmatch(
        rf"ConfigMap monitoring/prometheus-config-\w+: {re.escape(str(extra.resolve()))} is "
        r"loaded by prometheus-k8s.yml's rule_files beside it but the ConfigMap does not "
        r"carry it \(add it to the configMapGenerator and the Deployment's config volume\)",
        problems[0],
    ), problems[0]


def test_a_mounted_key_the_configmap_lacks_is_a_problem(tmp_path: Path) -> None:
    extra = ITEM.replace("sample-service.rules.yml", "other.rules.yml")
    (folder,) = folders_of(broken_copy(tmp_path, {PROM: replace(ITEM, ITEM + extra)}))
    assert folder.problems == [
        f"{folder.owner}: the Deployment mounts key other.rules.yml, which the ConfigMap "
        "does not carry"
    ]


def test_a_path_outside_the_config_folder_is_a_problem_and_never_written(
    tmp_path: Path,
) -> None:
    escape = ITEM.replace("path: rules/", "path: ../../")
    (folder,) = folders_of(broken_copy(tmp_path, {PROM: replace(ITEM, escape)}))
    assert folder.problems == [
        f"{folder.owner}: key sample-service.rules.yml is mounted at "
        "'../../sample-service.rules.yml'"
    ]
    assert sorted(folder.files) == ["prometheus.yml"]


def test_a_rule_file_that_does_not_load_stops_the_check_naming_its_source_line(
    tmp_path: Path,
) -> None:
    tree = broken_copy(tmp_path, {RULES: replace("expr: up == 0", "expr: up == 0 +")})
    source = (tmp_path / RULES).resolve()
    line = source.read_text().split("\n").index("        expr: up == 0 +") + 1
    with pytest.raises(rules.RuleFileError) as exc:
        problems_of(tree)
    assert str(exc.value).startswith(
        f"rule file {source}:{line}: alert TargetDown's expr does not parse"
    ), exc.value


def test_a_rule_file_promtool_rejects_is_one_problem(tmp_path: Path) -> None:
    edit = replace("summary: Always firing", "summary: Always {{ $labels.job firing")
    problems = problems_of(broken_copy(tmp_path, {RULES: edit}))
    assert len(problems) == 1, problems
    assert re.fullmatch(
        r"ConfigMap monitoring/prometheus-config-\w+: rule files rules/sample-service.rules.yml "
        r'are invalid: .*"Watchdog": annotation "summary": template: '
        r'.*function "firing" not defined',
        problems[0],
    ), problems[0]


def test_a_config_that_is_not_yaml_is_one_problem_not_a_cascade(tmp_path: Path) -> None:
    edit = replace("global:", "global: [")
    problems = problems_of(broken_copy(tmp_path, {"config/prometheus/prometheus-k8s.yml": edit}))
    assert len(problems) == 1, problems
    assert "prometheus.yml is invalid: parsing YAML file ./prometheus.yml" in problems[0]


def test_unknown_kind_is_reported(tmp_path: Path) -> None:
    edit = replace("kind: NetworkPolicy", "kind: NetworkPolicie")
    problems = problems_of(broken_copy(tmp_path, {"k8s/prometheus/networkpolicy.yaml": edit}))
    assert problems == [
        "NetworkPolicie monitoring/prometheus: no Kubernetes 1.32 schema for apiVersion "
        "networking.k8s.io/v1 kind NetworkPolicie (check both for typos)"
    ]


def test_exposed_service_allowed_by_setting(tmp_path: Path) -> None:
    edit = replace("type: ClusterIP", "type: NodePort")
    tree = broken_copy(tmp_path, {"k8s/prometheus/service.yaml": edit})
    assert problems_of(tree) != []
    assert problems_of(tree, allow_exposed_services=True) == []


def test_render_error_is_one_line(tmp_path: Path) -> None:
    edit = replace("  - pvc.yaml\n", "  - pvc.yaml\n  - missing.yaml\n")
    tree = broken_copy(tmp_path, {"k8s/prometheus/kustomization.yaml": edit})
    with pytest.raises(ValidationError, match=r"^cannot render .*/k8s: .*missing\.yaml"):
        problems_of(tree)


def test_missing_kustomization_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(PromkitError, match=r"no kustomization\.yaml in .*: check setting"):
        problems_of(tmp_path)


def test_promtool_without_kubernetes_discovery_is_named(tmp_path: Path) -> None:
    debian = shutil.which("promtool")
    assert debian, "this machine has Debian's promtool (see README.md)"
    with pytest.raises(PromkitError, match="built without Kubernetes discovery"):
        problems_of(ROOT / "k8s", promtool=debian)


# --- the task ----------------------------------------------------------------------------


def test_check_manifests_task_passes_on_the_real_tree(capsys: pytest.CaptureFixture[str]) -> None:
    kubernetes.manifests(real_context())
    out = capsys.readouterr().out
    assert "14 objects pass the Kubernetes 1.32 schemas, promtool and the hardening rules" in out


def test_check_manifests_task_lists_every_problem_then_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = broken_copy(
        tmp_path,
        {
            PROM: replace("prom/prometheus:v3.16.0", "prom/prometheus"),
            APP: replace("runAsUser: 10001", "runAsUser: 0"),
        },
    )
    with pytest.raises(Exit) as exc:
        kubernetes.manifests(real_context(kustomization=str(tree)))
    assert exc.value.code == 2
    assert str(exc.value.message) == (
        f"promkit: {tree} has 2 problems (listed above): fix them, then run `inv check.manifests`"
    )
    out = capsys.readouterr().out.splitlines()
    assert f"{WHERE_PROM}: image prom/prometheus is not pinned (use a version tag or digest)" in out
    assert f"{WHERE_APP}: securityContext.runAsUser is 0 (root): set a non-zero UID" in out


# --- pure helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("prom/prometheus:v3.16.0", True),
        ("prom/prometheus@sha256:" + "a" * 64, True),
        ("registry.local:5000/prom/prometheus:v3.16.0", True),
        ("registry.local:5000/prom/prometheus", False),
        ("prom/prometheus", False),
        ("prom/prometheus:latest", False),
        ("", False),
    ],
)
def test_image_is_pinned(image: str, pinned: bool) -> None:
    assert manifests.image_is_pinned(image) is pinned


def test_plan_helpers_on_the_real_tree(real_tree: manifests.Checked) -> None:
    objects = real_tree.objects
    assert manifests.namespaces(objects) == ["monitoring", "promkit-sample"]
    assert manifests.volume_namespaces(objects) == ["monitoring"]
    assert manifests.resource_types(objects, volumes=False) == [
        "clusterrole.rbac.authorization.k8s.io",
        "clusterrolebinding.rbac.authorization.k8s.io",
        "configmap",
        "deployment.apps",
        "networkpolicy.networking.k8s.io",
        "service",
        "serviceaccount",
    ]
    assert "persistentvolumeclaim" in manifests.resource_types(objects, volumes=True)
    assert [(w.namespace, w.name, w.selector) for w in manifests.deployments(objects)] == [
        ("monitoring", "prometheus", "app=prometheus"),
        ("promkit-sample", "celery-workers", "app=celery-workers"),
        ("promkit-sample", "fastapi-app", "app=fastapi-app"),
        ("promkit-sample", "redis", "app=redis"),
    ]


# --- the overlay example of the docs -----------------------------------------------------

DOCS = ROOT / "docs/operations/prometheus-setup.md"


def overlay_files_in_docs() -> dict[str, str]:
    """The docs' YAML blocks whose first line names an overlays/ file: path -> text."""
    blocks = re.findall(r"```yaml\n(# (overlays/\S+)\n.*?)```", DOCS.read_text(), re.DOTALL)
    return {path: text for text, path in blocks}


def test_overlay_of_the_docs_moves_prometheus_and_passes_the_checks(tmp_path: Path) -> None:
    broken_copy(tmp_path, {})
    files = overlay_files_in_docs()
    assert sorted(files) == [
        "overlays/observability/kustomization.yaml",
        "overlays/observability/prometheus/kustomization.yaml",
    ]
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    c = real_context(kustomization=str(tmp_path / "overlays/observability"))
    checked = manifests.check(c, c.config)
    assert checked.problems == []
    namespaces = {o["metadata"].get("namespace") for o in checked.objects}
    assert namespaces == {None, "observability", "promkit-sample"}
    assert manifests.namespaces(checked.objects) == ["observability", "promkit-sample"]
    binding = by_kind(checked.objects, "ClusterRoleBinding", "promkit-prometheus")
    assert binding["subjects"][0]["namespace"] == "observability"
    assert manifests.prometheus_image(checked.objects) == "prom/prometheus:v3.16.1"
    app = by_kind(checked.objects, "Deployment", "fastapi-app")
    image = app["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/promkit/sample-app:0.1.0"
