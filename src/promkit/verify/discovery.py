"""verify.discovery: every annotated pod is scraped exactly once, every miss explained.

Pure functions over two answers: the cluster's (``kubectl get pods,deployments,
statefulsets,daemonsets --all-namespaces -o json``) and Prometheus' (``/api/v1/targets``
plus the served configuration). The contract checked is the one of the
``prometheus.io/scrape|port|path`` annotations: each Running pod annotated
``scrape: "true"`` has exactly one active target of the pod-discovery job, at
``<pod IP>:<port>`` with its path; no active target points at a pod that is gone.

A missing pod gets its reason: the port annotation names no container port, the
relabel step that dropped it (replayed from the served ``relabel_configs`` on the
dropped target's discovered labels), a namespace the job does not discover, or nothing
discovered at all (RBAC).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import SplitResult, urlsplit

from promkit.core.errors import ConfigError
from promkit.verify.checks import AC2, parse_config
from promkit.verify.result import CheckResult, UnexpectedPayload

NAME = "discovery"
SCRAPE, PORT, PATH = "prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"
_NAMESPACE = "__meta_kubernetes_namespace"
_POD = "__meta_kubernetes_pod_name"
_CONTAINER_PORT = "__meta_kubernetes_pod_container_port_number"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
#: How many passing pods the evidence lists one by one (then a count).
_LISTED = 20


@dataclass(frozen=True)
class AnnotatedPod:
    """A pod that asks to be scraped, as the cluster describes it."""

    namespace: str
    name: str
    ip: str
    phase: str
    ready: bool
    port: str
    path: str
    container_ports: tuple[int, ...]
    #: ``Kind/namespace/name`` of its owner, as ``annotated_workloads`` names them.
    workload: str

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ScrapeTarget:
    """An active target of the pod-discovery job, tied to the pod it was discovered from."""

    namespace: str
    pod: str
    url: str

    @cached_property
    def _parts(self) -> SplitResult:
        # Split once: judging 1,000 targets asks for these 3,000 times (bench figure 8).
        return urlsplit(self.url)

    @property
    def address(self) -> str:
        return self._parts.netloc

    @property
    def host(self) -> str:
        return self._parts.hostname or ""

    @property
    def path(self) -> str:
        return self._parts.path or "/"


@dataclass
class Findings:
    """The verdict lines, failures first."""

    failures: list[str] = field(default_factory=list)
    passes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def _items(cluster: Any) -> list[Mapping[str, Any]]:
    if not isinstance(cluster, Mapping) or not isinstance(cluster.get("items"), list):
        raise UnexpectedPayload("the cluster's answer is not a kubectl List (no items)")
    return [item for item in cluster["items"] if isinstance(item, Mapping)]


def _workload(meta: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` of the owner; a ReplicaSet stands for its Deployment."""
    namespace = meta.get("namespace", "")
    for owner in meta.get("ownerReferences") or []:
        kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
        if kind == "ReplicaSet":
            return f"Deployment/{namespace}/{name.rsplit('-', 1)[0]}"
        return f"{kind}/{namespace}/{name}"
    return f"Pod/{namespace}/{meta.get('name', '')}"


def annotated_pods(cluster: Any) -> list[AnnotatedPod]:
    """Pods annotated ``prometheus.io/scrape: "true"`` (not being deleted)."""
    found = []
    for item in _items(cluster):
        if item.get("kind", "Pod") != "Pod":
            continue
        meta, spec, status = (item.get(k) or {} for k in ("metadata", "spec", "status"))
        annotations = meta.get("annotations") or {}
        if annotations.get(SCRAPE) != "true" or "deletionTimestamp" in meta:
            continue
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        ports = tuple(
            int(port["containerPort"])
            for container in spec.get("containers") or []
            for port in container.get("ports") or []
            if "containerPort" in port
        )
        found.append(
            AnnotatedPod(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                ip=str(status.get("podIP") or ""),
                phase=str(status.get("phase") or "Unknown"),
                ready=conditions.get("Ready") == "True",
                port=str(annotations.get(PORT, "")),
                path=str(annotations.get(PATH) or "/metrics"),
                container_ports=ports,
                workload=_workload(meta),
            )
        )
    return found


def live_pods(cluster: Any) -> dict[tuple[str, str], str]:
    """(namespace, name) -> pod IP of every pod that exists and is not being deleted."""
    live = {}
    for item in _items(cluster):
        meta = item.get("metadata") or {}
        if item.get("kind", "Pod") == "Pod" and "deletionTimestamp" not in meta:
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            live[key] = str((item.get("status") or {}).get("podIP") or "")
    return live


def annotated_workloads(cluster: Any) -> list[str]:
    """``Kind/namespace/name`` of workloads whose pod template asks to be scraped."""
    found = []
    for item in _items(cluster):
        if item.get("kind") not in WORKLOAD_KINDS:
            continue
        template = ((item.get("spec") or {}).get("template") or {}).get("metadata") or {}
        if (template.get("annotations") or {}).get(SCRAPE) == "true":
            meta = item.get("metadata") or {}
            found.append(f"{item['kind']}/{meta.get('namespace', '')}/{meta.get('name', '')}")
    return found


def _labels(target: Mapping[str, Any]) -> Mapping[str, str]:
    labels = target.get("discoveredLabels") or target.get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def active_targets(targets_data: Any, job: str) -> list[ScrapeTarget]:
    """The job's active targets, each with the pod its discovered labels name."""
    if not isinstance(targets_data, Mapping):
        raise UnexpectedPayload("Prometheus answered an unexpected payload: targets data")
    found = []
    for target in targets_data.get("activeTargets") or []:
        labels = target.get("labels") or {}
        if labels.get("job") != job and target.get("scrapePool") != job:
            continue
        discovered = _labels(target)
        namespace = discovered.get(_NAMESPACE) or labels.get("namespace", "")
        pod = discovered.get(_POD) or labels.get("pod", "")
        found.append(ScrapeTarget(str(namespace), str(pod), str(target.get("scrapeUrl", ""))))
    return found


def dropped_for(targets_data: Any, job: str, pod: AnnotatedPod) -> list[Mapping[str, str]]:
    """Discovered labels of the job's dropped targets that came from ``pod``."""
    found = []
    for target in targets_data.get("droppedTargets") or []:
        labels = _labels(target)
        pool = target.get("scrapePool") or labels.get("job")
        same_pod = (labels.get(_NAMESPACE), labels.get(_POD)) == pod.key
        if same_pod and pool in (job, None):
            found.append(labels)
    return found


# --------------------------------------------------------------------------- relabelling


def _go_replacement(replacement: str) -> str:
    """Go's ``$1``/``${1}``/``${name}`` as Python's ``\\g<...>``."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: f"\\g<{m.group(1) or m.group(2)}>", replacement)


def _apply(rule: Mapping[str, Any], labels: dict[str, str]) -> bool:
    """Apply one relabel rule in place; False when it drops the target."""
    action = str(rule.get("action") or "").lower() or "replace"
    sources = rule.get("source_labels") or []
    value = str(rule.get("separator", ";")).join(labels.get(s, "") for s in sources)
    regex = re.compile(f"^(?:{rule.get('regex', '(.*)')})$")
    target = str(rule.get("target_label") or "")
    if action == "keep":
        return bool(regex.match(value))
    if action == "drop":
        return not regex.match(value)
    if action in ("keepequal", "dropequal"):
        equal = value == labels.get(target, "")
        return equal if action == "keepequal" else not equal
    if action == "replace":
        match = regex.match(value)
        if match and target:
            new = match.expand(_go_replacement(str(rule.get("replacement", "$1"))))
            if new:
                labels[target] = new
            else:
                labels.pop(target, None)
        return True
    raise _Unknown


class _Unknown(Exception):
    """A relabel action the replay does not model (labelmap, hashmod...)."""


def dropping_step(
    discovered: Mapping[str, str], rules: Sequence[Mapping[str, Any]]
) -> tuple[int, Mapping[str, Any]] | None:
    """The (1-based) relabel rule that drops ``discovered``, or None if none does/unknown."""
    labels = dict(discovered)
    for index, rule in enumerate(rules, start=1):
        try:
            if not _apply(rule, labels):
                return index, rule
        except (_Unknown, re.error, IndexError):
            return None
    return None


def _describe_rule(index: int, rule: Mapping[str, Any]) -> str:
    action = rule.get("action", "replace")
    sources = ",".join(rule.get("source_labels") or [])
    detail = f"regex {rule.get('regex')!r}" if action in ("keep", "drop") else ""
    if action in ("keepequal", "dropequal"):
        detail = f"target_label {rule.get('target_label')}"
    return f"relabel step {index} ({action} on [{sources}] {detail})".replace(" )", ")")


# --------------------------------------------------------------------------- the check


def pod_discovery_job(config_yaml: str, job: str) -> Mapping[str, Any]:
    """The scrape config of ``job``; a ConfigError when it is no pod-discovery job."""
    for scrape in parse_config(config_yaml).get("scrape_configs") or []:
        if isinstance(scrape, Mapping) and scrape.get("job_name") == job:
            roles = [sd.get("role") for sd in scrape.get("kubernetes_sd_configs") or []]
            if "pod" in roles:
                return scrape
    raise ConfigError(
        f"Prometheus has no pod-discovery job {job!r} (kubernetes_sd_configs with role: pod): "
        "set k8s.discovery_job to the job that discovers the annotated pods"
    )


def _discovered_namespaces(scrape: Mapping[str, Any]) -> set[str] | None:
    """The namespaces the job's pod discovery is limited to; None for all."""
    names: set[str] = set()
    for sd in scrape.get("kubernetes_sd_configs") or []:
        listed = (sd.get("namespaces") or {}).get("names") or []
        if not listed:
            return None
        names.update(str(n) for n in listed)
    return names


def why_missing(pod: AnnotatedPod, targets_data: Any, scrape: Mapping[str, Any], job: str) -> str:
    """The most precise reason ``pod`` has no active target."""
    if not pod.port.isdigit():
        return f"its {PORT} annotation is {pod.port or 'missing'}: give the port to scrape"
    if pod.container_ports and int(pod.port) not in pod.container_ports:
        declared = ", ".join(str(p) for p in sorted(set(pod.container_ports)))
        return f"{PORT} {pod.port} names no container port (declared: {declared})"
    namespaces = _discovered_namespaces(scrape)
    if namespaces is not None and pod.namespace not in namespaces:
        return (
            f"job {job} only discovers namespaces {', '.join(sorted(namespaces))}: "
            f"add {pod.namespace} to its kubernetes_sd_configs namespaces"
        )
    dropped = dropped_for(targets_data, job, pod)
    if dropped:
        same_port = [d for d in dropped if d.get(_CONTAINER_PORT) == pod.port] or dropped
        step = dropping_step(same_port[0], scrape.get("relabel_configs") or [])
        if step is not None:
            return f"dropped by {_describe_rule(*step)}"
        return f"discovered but dropped by job {job}'s relabel_configs"
    unready = "" if pod.ready else " (the pod is not Ready either)"
    return (
        f"Prometheus has not discovered it: may its ServiceAccount list pods in namespace "
        f"{pod.namespace} (RBAC)?{unready}"
    )


def _judge_pod(
    pod: AnnotatedPod, found: list[ScrapeTarget], targets_data: Any, scrape: Mapping[str, Any],
    job: str, findings: Findings,
) -> None:  # fmt: skip
    if pod.phase != "Running":
        findings.passes.append(f"pod {pod.label} is {pod.phase}: scraped once it runs")
        return
    if not found:
        reason = why_missing(pod, targets_data, scrape, job)
        findings.failures.append(f"pod {pod.label} is MISSING: {reason}")
        return
    if len(found) > 1:
        urls = ", ".join(sorted(t.url for t in found))
        findings.failures.append(f"pod {pod.label} is DUPLICATED: {len(found)} targets ({urls})")
        return
    target, address = found[0], f"{pod.ip}:{pod.port}"
    if (target.address, target.path) != (address, pod.path):
        findings.failures.append(
            f"pod {pod.label} is scraped at {target.url}, expected {address}{pod.path}"
        )
        return
    findings.passes.append(f"pod {pod.label}: one target {target.url}")


def check_discovery(cluster: Any, targets_data: Any, config_yaml: str, job: str) -> CheckResult:
    """One active target per Running annotated pod, right address and path; none stale."""
    scrape = pod_discovery_job(config_yaml, job)
    pods = annotated_pods(cluster)
    live = live_pods(cluster)
    targets = active_targets(targets_data, job)
    by_pod: dict[tuple[str, str], list[ScrapeTarget]] = {}
    for target in targets:
        by_pod.setdefault((target.namespace, target.pod), []).append(target)
    findings = Findings()
    for pod in sorted(pods, key=lambda p: p.key):
        _judge_pod(pod, by_pod.get(pod.key) or [], targets_data, scrape, job, findings)
    annotated = {pod.key for pod in pods}
    for key, found in sorted(by_pod.items()):
        for target in found:
            if key not in live:
                findings.failures.append(
                    f"target {target.url} is STALE: pod {key[0]}/{key[1]} no longer exists"
                )
            elif live[key] and target.host != live[key]:
                findings.failures.append(
                    f"target {target.url} is STALE: pod {key[0]}/{key[1]} is now at {live[key]}"
                )
            elif key not in annotated:
                findings.warnings.append(
                    f"warning: target {target.url} scrapes pod {key[0]}/{key[1]}, which is "
                    f'not annotated {SCRAPE}: "true"'
                )
    _warn_silent_workloads(cluster, pods, by_pod, findings)
    return _result(findings, len(pods), len(targets), job)


def _warn_silent_workloads(
    cluster: Any,
    pods: Iterable[AnnotatedPod],
    by_pod: Mapping[tuple[str, str], list[ScrapeTarget]],
    findings: Findings,
) -> None:
    producing = {pod.workload for pod in pods if by_pod.get(pod.key)}
    for workload in annotated_workloads(cluster):
        if workload not in producing:
            findings.warnings.append(
                f"warning: {workload} asks to be scraped but produces no target "
                "(no Running pod, or none scraped)"
            )


def _result(findings: Findings, pods: int, targets: int, job: str) -> CheckResult:
    head = f"{pods} annotated pods, {targets} active targets of job {job}"
    if pods == 0:
        findings.failures.append(
            f'no pod is annotated {SCRAPE}: "true": job {job} has nothing to discover'
        )
    passes = findings.passes
    if len(passes) > _LISTED:
        passes = [*passes[:_LISTED], f"... and {len(passes) - _LISTED} more pods scraped once"]
    evidence = [*findings.failures, *findings.warnings, head, *passes]
    return CheckResult(NAME, AC2, not findings.failures, evidence)
