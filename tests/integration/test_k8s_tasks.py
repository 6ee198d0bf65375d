"""deploy.k8s, destroy.k8s and k8s.port-forward: the exact kubectl commands, in order.

kubectl is answered by MockContext (no cluster here); the manifests it would get are
the real k8s/ tree rendered by the real `kubectl kustomize`, and they are really
validated against the Kubernetes schemas. kubectl port-forward runs as a process:
its failure path with the real kubectl, its success path with a stand-in on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke.context import Context, MockContext
from invoke.exceptions import Exit

from promkit.core.deadline import Deadline
from promkit.core.errors import PromkitError
from promkit.core.settings import data_path
from promkit.k8s import kubectl as kube
from promkit.k8s import port_forward as forwarding
from promkit.k8s import stack as k8s_stack
from promkit.tasks import kubernetes
from tests.support import get, port_answers, run
from tests.support.mockctx import commands, promkit_config, result

K8S = data_path("k8s")
KCTL = "kubectl --context dev"
PROMTOOL = "/opt/prometheus/promtool"
DEPLOYMENTS = [
    ("monitoring", "prometheus"),
    ("promkit-sample", "celery-workers"),
    ("promkit-sample", "fastapi-app"),
    ("promkit-sample", "redis"),
]
Build = Callable[..., MockContext]


@pytest.fixture(scope="module")
def rendered() -> str:
    """The real k8s/ tree, rendered by the real kubectl."""
    return run(["kubectl", "kustomize", str(K8S)], check=True).stdout


@pytest.fixture
def cluster(mock_context: Build, rendered: str) -> Callable[..., MockContext]:
    """A MockContext answering like a healthy cluster; ``overrides`` (regex -> result) win."""

    def build(overrides: dict[str, object] | None = None, **k8s: object) -> MockContext:
        defaults: dict[str, object] = {
            r"^kubectl config current-context$": result("kind-dev\n"),
            r"^kubectl config get-contexts -o name$": result("kind-dev\ndev\n"),
            rf"^kubectl kustomize {K8S}$": result(rendered),
            rf"^{PROMTOOL} check config ": result(" SUCCESS: prometheus.yml is valid"),
            rf"^{PROMTOOL} check rules ": result(" SUCCESS: 7 rules found"),
            rf"^{KCTL} get namespace ": result("namespace/monitoring\nnamespace/promkit-sample\n"),
            rf"^{KCTL} apply ": result("configured"),
            rf"^{KCTL} rollout status ": result("successfully rolled out"),
            rf"^{KCTL} delete ": result("deleted"),
        }
        responses = dict(overrides or {})
        for pattern, value in defaults.items():
            responses.setdefault(pattern, value)
        return mock_context(responses, k8s={"promtool": PROMTOOL, **k8s})

    return build


def rollout(namespace: str, name: str, timeout: int = 180) -> str:
    return f"{KCTL} rollout status deployment/{name} --namespace {namespace} --timeout={timeout}s"


# --- the context guard -------------------------------------------------------------------


@pytest.mark.parametrize("task", [kubernetes.deploy, kubernetes.destroy, kubernetes.port_forward])
def test_no_context_names_the_current_one_and_touches_nothing(
    cluster: Build, task: Callable[..., None]
) -> None:
    c = cluster()
    with pytest.raises(Exit) as exc:
        task(c)
    assert exc.value.code == 2
    assert exc.value.message == (
        "promkit: no Kubernetes context given: pass --context (current kubectl context is "
        "'kind-dev') or set k8s.context"
    )
    assert commands(c) == ["kubectl config current-context"]


def test_no_context_when_kubeconfig_has_no_current_one(cluster: Build) -> None:
    c = cluster({r"^kubectl config current-context$": result("", 1, "error: no current")})
    with pytest.raises(Exit, match=r"current kubectl context is 'none'"):
        kubernetes.deploy(c)


def test_unknown_context_lists_the_available_ones(cluster: Build) -> None:
    c = cluster()
    with pytest.raises(Exit) as exc:
        kubernetes.deploy(c, context="prod")
    assert exc.value.code == 2
    assert exc.value.message == (
        "promkit: Kubernetes context 'prod' is not in your kubeconfig: available contexts are "
        "kind-dev, dev (see `kubectl config get-contexts`)"
    )
    assert commands(c) == ["kubectl config get-contexts -o name"]


def test_context_from_settings(cluster: Build) -> None:
    c = cluster(context="dev")
    kubernetes.deploy(c)
    assert f"{KCTL} apply -k {K8S}" in commands(c)


# --- deploy.k8s --------------------------------------------------------------------------


def test_deploy_validates_dry_runs_applies_then_waits(
    cluster: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = cluster()
    kubernetes.deploy(c, context="dev")
    ran = commands(c)
    assert ran[:2] == ["kubectl config get-contexts -o name", f"kubectl kustomize {K8S}"]
    assert ran[2].startswith(f"{PROMTOOL} check config --syntax-only /tmp/")
    assert ran[3].startswith(f"{PROMTOOL} check rules /tmp/")
    assert ran[3].endswith("/rules/sample-service.rules.yml")
    assert ran[4:] == [
        f"{KCTL} get namespace monitoring promkit-sample --ignore-not-found -o name",
        f"{KCTL} apply -k {K8S} --dry-run=server",
        f"{KCTL} apply -k {K8S}",
        *(rollout(ns, name) for ns, name in DEPLOYMENTS),
    ]
    out = capsys.readouterr().out
    assert "the API server accepts every object (server-side dry run)" in out
    assert "deployment monitoring/prometheus is ready" in out


def test_deploy_is_idempotent(cluster: Build) -> None:
    c = cluster()
    kubernetes.deploy(c, context="dev")
    first = commands(c)
    kubernetes.deploy(c, context="dev")
    assert commands(c)[len(first) :][4:] == first[4:]  # the promtool runs name temporary folders


def test_deploy_creates_missing_namespaces_before_the_server_dry_run(cluster: Build) -> None:
    c = cluster({rf"^{KCTL} get namespace ": result("namespace/monitoring\n")})
    kubernetes.deploy(c, context="dev")
    ran = commands(c)
    create = next(cmd for cmd in ran if " apply -f " in cmd)
    assert create.startswith(f"{KCTL} apply -f /tmp/promkit-k8s-")
    assert create.endswith("/namespaces.yaml")
    assert ran.index(create) < ran.index(f"{KCTL} apply -k {K8S} --dry-run=server")


def test_deploy_timeout_flag_bounds_each_rollout(cluster: Build) -> None:
    c = cluster()
    kubernetes.deploy(c, context="dev", timeout="45")
    waits = [cmd for cmd in commands(c) if " rollout status " in cmd]
    assert len(waits) == 4
    assert waits[0] == rollout("monitoring", "prometheus", 45)
    # One deadline for all: later rollouts get what is left of it, never more.
    assert all(int(cmd.rsplit("=", 1)[1].rstrip("s")) <= 45 for cmd in waits)


def test_deploy_rejects_a_bad_timeout(cluster: Build) -> None:
    with pytest.raises(Exit, match=r"setting '--timeout' must be a number"):
        kubernetes.deploy(cluster(), context="dev", timeout="soon")


def test_deploy_dry_run_validates_and_prints_the_changes(
    cluster: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = cluster()
    kubernetes.deploy(c, context="dev", dry_run=True)
    ran = commands(c)
    assert f"{KCTL} apply -k {K8S} --dry-run=server" in ran
    assert f"{KCTL} apply -k {K8S}" not in ran
    assert not any(" rollout status " in cmd for cmd in ran)
    out = capsys.readouterr().out
    assert f"[dry-run] {KCTL} apply -k {K8S}\n" in out
    for namespace, name in DEPLOYMENTS:
        assert f"[dry-run] {rollout(namespace, name)}" in out


def test_deploy_dry_run_on_a_fresh_cluster_creates_nothing(
    cluster: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = cluster({rf"^{KCTL} get namespace ": result("")})
    kubernetes.deploy(c, context="dev", dry_run=True)
    assert not any(" apply " in cmd for cmd in commands(c))
    out = capsys.readouterr().out
    assert f"[dry-run] {KCTL} apply -f /tmp/promkit-k8s-" in out
    assert (
        "skipped the server-side dry run: namespace(s) monitoring, promkit-sample do not "
        "exist yet" in out
    )


def test_deploy_stops_before_the_cluster_when_manifests_are_bad(
    cluster: Build, rendered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = rendered.replace("prom/prometheus:v3.16.0", "prom/prometheus:latest")
    c = cluster({rf"^kubectl kustomize {K8S}$": result(broken)})
    with pytest.raises(Exit) as exc:
        kubernetes.deploy(c, context="dev")
    assert exc.value.code == 2
    assert "has 1 problem (listed above)" in str(exc.value.message)
    assert not any(cmd.startswith(KCTL) for cmd in commands(c))
    assert "image prom/prometheus:latest is not pinned" in capsys.readouterr().out


def test_deploy_stops_when_promtool_rejects_the_config(cluster: Build) -> None:
    failed = result("", 1, "  FAILED: parsing YAML file /tmp/x/prometheus.yml: bad regexp")
    c = cluster({rf"^{PROMTOOL} check config ": failed})
    with pytest.raises(Exit, match="has 1 problem"):
        kubernetes.deploy(c, context="dev")
    assert not any(cmd.startswith(KCTL) for cmd in commands(c))


def test_a_rule_file_that_does_not_parse_stops_deploy_before_any_kubectl_call(
    cluster: Build, tmp_path: Path
) -> None:
    shutil.copytree(K8S, tmp_path / "k8s")
    shutil.copytree(data_path("config/prometheus"), tmp_path / "config/prometheus")
    rule_file = tmp_path / "config/prometheus/rules/sample-service.rules.yml"
    text = rule_file.read_text()
    assert "expr: up == 0" in text
    rule_file.write_text(text.replace("expr: up == 0", "expr: up == == 0"))
    line = text[: text.index("expr: up == 0")].count("\n") + 1
    tree = tmp_path / "k8s"
    rendered = run(["kubectl", "kustomize", str(tree)], check=True).stdout
    c = cluster({rf"^kubectl kustomize {tree}$": result(rendered)}, kustomization=str(tree))
    with pytest.raises(Exit) as exc:
        kubernetes.deploy(c, context="dev")
    assert exc.value.code == 2
    message = str(exc.value.message)
    assert "\n" not in message
    assert message.startswith(
        f"promkit: rule file {rule_file.resolve()}:{line}: alert TargetDown's expr"
    )
    assert commands(c) == ["kubectl config get-contexts -o name", f"kubectl kustomize {tree}"]


def test_deploy_stops_when_the_server_dry_run_fails(cluster: Build) -> None:
    denied = result(
        "", 1, "Error from server (Forbidden): clusterroles.rbac.authorization.k8s.io is forbidden"
    )
    c = cluster({rf"^{KCTL} apply -k {K8S} --dry-run=server$": denied})
    with pytest.raises(Exit) as exc:
        kubernetes.deploy(c, context="dev")
    assert exc.value.code == 2
    assert exc.value.message == (
        "promkit: server-side dry run (nothing was applied) (exit 1): Error from server "
        "(Forbidden): clusterroles.rbac.authorization.k8s.io is forbidden"
    )
    assert f"{KCTL} apply -k {K8S}" not in commands(c)


CRASHING_POD = json.dumps(
    {
        "items": [
            {
                "metadata": {"name": "prometheus-7d9f-abcde"},
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
                },
            },
            {
                "metadata": {"name": "prometheus-old-ready"},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            },
        ]
    }
)


def test_deploy_rollout_failure_shows_events_and_logs(
    cluster: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = "prometheus-7d9f-abcde"
    c = cluster(
        {
            rf"^{KCTL} rollout status deployment/prometheus ": result(
                "", 1, "error: timed out waiting for the condition"
            ),
            rf"^{KCTL} get pods --namespace monitoring --selector app=prometheus -o json$": result(
                CRASHING_POD
            ),
            rf"^{KCTL} events --namespace monitoring --for pod/{pod}$": result(
                "Warning  BackOff  Back-off restarting failed container prometheus"
            ),
            rf"^{KCTL} logs --namespace monitoring {pod} --all-containers --tail=30$": result(
                'msg="Error opening query log file" err="open /prometheus/queries.active: '
                'permission denied"'
            ),
        }
    )
    with pytest.raises(Exit) as exc:
        kubernetes.deploy(c, context="dev")
    assert exc.value.code == 2
    assert exc.value.message == (
        "promkit: deployment monitoring/prometheus was not ready within 180s: "
        f"{pod} (Running CrashLoopBackOff); see the events and log lines above, and "
        "docs/operations/prometheus-setup.md#troubleshooting"
    )
    out = capsys.readouterr().out
    assert f"--- events of pod monitoring/{pod} (Running CrashLoopBackOff) ---" in out
    assert "Back-off restarting failed container prometheus" in out
    assert "queries.active: permission denied" in out
    assert "prometheus-old-ready" not in out
    # The later rollouts are not waited for once one failed.
    assert not any("deployment/redis" in cmd for cmd in commands(c))


def test_deploy_rollout_failure_without_pods_uses_kubectl_reason(cluster: Build) -> None:
    c = cluster(
        {
            rf"^{KCTL} rollout status deployment/prometheus ": result(
                "", 1, 'error: deployments.apps "prometheus" not found'
            ),
            rf"^{KCTL} get pods ": result('{"items": []}'),
        }
    )
    with pytest.raises(Exit, match=r'within 180s: error: deployments.apps "prometheus" not found'):
        kubernetes.deploy(c, context="dev")


# --- destroy.k8s -------------------------------------------------------------------------

KINDS = (
    "clusterrole.rbac.authorization.k8s.io,clusterrolebinding.rbac.authorization.k8s.io,"
    "configmap,deployment.apps,networkpolicy.networking.k8s.io"
)
DELETE_TAIL = (
    "--all-namespaces --selector app.kubernetes.io/part-of=promkit --ignore-not-found "
    "--cascade=foreground --wait=true --timeout=180s"
)


def test_destroy_keeps_the_data_by_default(
    cluster: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = cluster()
    kubernetes.destroy(c, context="dev")
    assert commands(c)[2:] == [
        f"{KCTL} delete {KINDS},service,serviceaccount {DELETE_TAIL}",
        f"{KCTL} delete namespace promkit-sample --ignore-not-found --wait=true --timeout=180s",
    ]
    assert "kept the Prometheus data: namespace(s) monitoring and their PersistentVolumeClaim" in (
        capsys.readouterr().out
    )


def test_destroy_volumes_deletes_the_claim_and_every_namespace(cluster: Build) -> None:
    c = cluster()
    kubernetes.destroy(c, context="dev", volumes=True)
    assert commands(c)[2:] == [
        f"{KCTL} delete {KINDS},persistentvolumeclaim,service,serviceaccount {DELETE_TAIL}",
        f"{KCTL} delete namespace monitoring promkit-sample --ignore-not-found --wait=true "
        "--timeout=180s",
    ]


def test_destroy_dry_run_prints_and_deletes_nothing(
    cluster: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = cluster()
    kubernetes.destroy(c, context="dev", dry_run=True)
    assert not any(" delete " in cmd for cmd in commands(c))
    out = capsys.readouterr().out
    assert f"[dry-run] {KCTL} delete {KINDS},service,serviceaccount {DELETE_TAIL}" in out
    assert f"[dry-run] {KCTL} delete namespace promkit-sample" in out


def test_destroy_failure_is_one_line(cluster: Build) -> None:
    c = cluster({rf"^{KCTL} delete namespace ": result("", 1, "error: timed out waiting")})
    with pytest.raises(Exit) as exc:
        kubernetes.destroy(c, context="dev")
    assert exc.value.code == 2
    assert str(exc.value.message).endswith("(exit 1): error: timed out waiting")


# --- k8s_stack on its own: the plans the tasks act on -----------------------------------


def test_teardown_plan_keeps_the_data_namespace_unless_volumes(cluster: Build) -> None:
    c = cluster()
    kept = k8s_stack.plan_teardown(c, c.config, "dev", volumes=False)
    assert (kept.context, kept.doomed, kept.kept, kept.timeout) == (
        "dev", ["promkit-sample"], ["monitoring"], 180.0
    )  # fmt: skip
    assert "persistentvolumeclaim" not in kept.types
    gone = k8s_stack.plan_teardown(c, c.config, "dev", volumes=True)
    assert (gone.doomed, gone.kept) == (["monitoring", "promkit-sample"], [])
    assert "persistentvolumeclaim" in gone.types
    # Planning reads the kustomization only: nothing is deleted, no cluster is asked.
    assert commands(c) == [f"kubectl kustomize {K8S}"] * 2


def test_validate_plans_every_object_and_the_rollout_budget(cluster: Build) -> None:
    c = cluster()
    plan = k8s_stack.validate(c, c.config, "dev", timeout="45")
    assert (plan.context, plan.rollout_timeout) == ("dev", 45.0)
    assert plan.checked.kustomization == K8S
    assert [
        (w.namespace, w.name) for w in k8s_stack.manifests.deployments(plan.checked.objects)
    ] == (DEPLOYMENTS)
    assert not any(cmd.startswith(KCTL) for cmd in commands(c)), "validation is offline"


def test_rollouts_share_one_deadline(cluster: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(k8s_stack, "Deadline", lambda s: Deadline(s, clock=lambda: now[0]))
    c = cluster()

    def slow_rollout(*args: object, **kwargs: object) -> object:
        now[0] += 40.0  # each rollout takes 40s of the 100s budget
        return real_rollout(*args, **kwargs)

    real_rollout = kube.rollout_status
    monkeypatch.setattr(kube, "rollout_status", slow_rollout)
    workloads = k8s_stack.manifests.deployments(
        k8s_stack.validate(c, c.config, "dev", timeout="100").checked.objects
    )
    k8s_stack.wait_for_rollouts(c, "dev", workloads, 100.0)
    waits = [cmd.rsplit("=", 1)[1] for cmd in commands(c) if " rollout status " in cmd]
    # 100s, then what is left (60s, 20s), then never below kubectl's 1s minimum.
    assert waits == ["100s", "60s", "20s", "1s"]


# --- port-forward ------------------------------------------------------------------------

STAND_IN = textwrap.dedent(
    """\
    import http.server, json, os, sys, threading
    # kubectl port-forward, as far as promkit sees it: serve the local port until killed.
    with open(os.environ["STAND_IN_ARGV"], "w") as out:
        json.dump(sys.argv[1:], out)
    port = int(sys.argv[-1].split(":")[0])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"Prometheus Server is Ready.")

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    exit_after = float(os.environ.get("STAND_IN_EXIT_AFTER", "0"))
    if exit_after:
        threading.Timer(exit_after, server.shutdown).start()
    server.serve_forever()
    print("error: lost connection to pod", file=sys.stderr)
    sys.exit(1)
    """
)


@pytest.fixture
def stand_in_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `kubectl` first on PATH that serves the forwarded port; returns its argv file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(f"#!{sys.executable}\n{STAND_IN}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    argv_file = tmp_path / "argv.json"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STAND_IN_ARGV", str(argv_file))
    return argv_file


def port_is_open(url: str) -> bool:
    return port_answers(int(url.rsplit(":", 1)[1]))


def test_port_forward_yields_a_working_url_and_always_stops(stand_in_kubectl: Path) -> None:
    c = Context(config=promkit_config())
    with forwarding.kept_port_forward(c, "dev", "monitoring") as forward:
        url = forward.url
        assert url.startswith("http://127.0.0.1:")
        assert get(f"{url}/-/ready").content == b"Prometheus Server is Ready."
    port = url.rsplit(":", 1)[1]
    assert json.loads(stand_in_kubectl.read_text()) == [
        "--context", "dev", "port-forward", "--namespace", "monitoring",
        "--address", "127.0.0.1", "svc/prometheus", f"{port}:9090",
    ]  # fmt: skip
    assert not port_is_open(url)


def test_port_forward_stops_kubectl_when_the_block_fails(stand_in_kubectl: Path) -> None:
    c = Context(config=promkit_config())
    with (
        pytest.raises(RuntimeError),
        forwarding.kept_port_forward(c, "dev", "monitoring") as forward,
    ):
        url = forward.url
        raise RuntimeError("verification blew up")
    assert not port_is_open(url)


def test_kept_port_forward_restarts_kubectl_on_the_same_port(stand_in_kubectl: Path) -> None:
    c = Context(config=promkit_config())
    with forwarding.kept_port_forward(c, "dev", "monitoring") as forward:
        url = forward.url
        forward.forward.process.kill()
        forward.forward.process.wait(timeout=5)
        assert not port_is_open(url)
        forward.ensure()
        assert forward.url == url
        assert get(f"{url}/-/ready").status_code == 200
    assert not port_is_open(url)


def test_port_forward_with_real_kubectl_reports_why_it_exited() -> None:
    c = Context(config=promkit_config())
    with (
        pytest.raises(PromkitError) as exc,
        forwarding.kept_port_forward(c, "no-such-context", "monitoring"),
    ):
        pass
    message = str(exc.value)
    assert message.startswith("`kubectl --context no-such-context port-forward ")
    assert 'context "no-such-context" does not exist' in message


def test_port_forward_task_fails_when_kubectl_stops(
    cluster: Build, stand_in_kubectl: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("STAND_IN_EXIT_AFTER", "1")
    with pytest.raises(Exit) as exc:
        kubernetes.port_forward(cluster(), context="dev")
    assert exc.value.code == 2
    assert str(exc.value.message).endswith("stopped: error: lost connection to pod")
    assert "Prometheus UI and API: http://127.0.0.1:" in capsys.readouterr().out


def test_pods_parse_readiness_and_reason() -> None:
    pods = kube.parse_pods(CRASHING_POD)
    assert [(p.name, p.ready, p.reason) for p in pods] == [
        ("prometheus-7d9f-abcde", False, "CrashLoopBackOff"),
        ("prometheus-old-ready", True, ""),
    ]
