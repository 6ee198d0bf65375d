"""The logs a failed verification's report gets: which services or pods, and their lines.

docker compose and kubectl are answered by MockContext; what is involved is decided
from the round's own targets answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from invoke.context import MockContext

from promkit.k8s import logs as k8s_logs
from promkit.local import logs as local_logs
from promkit.report import evidence
from promkit.verify.result import CheckResult, Verification
from tests.support.mockctx import COMPOSE, commands, result

KCTL = "kubectl --context dev"
URL = "http://127.0.0.1:9090"
DOWN = CheckResult("targets", "AC6", False, ["target celery-workers/worker:8001 is DOWN"])
UP = CheckResult("runs", "AC1", True, ["Prometheus 3.16.0 up"])


def targets(*health: tuple[str, str]) -> dict[str, object]:
    return {
        "activeTargets": [
            {"labels": {"job": "j", "instance": instance}, "health": state, "lastError": ""}
            for instance, state in health
        ]
    }


def round_(results: list[CheckResult], answer: dict[str, object], url: str = URL) -> Verification:
    return Verification(url, "3.16.0", results, None, {"targets": answer})


PS = "\n".join(
    json.dumps({"Service": name, "Name": f"promkit-{name}-1", "State": state, "Health": health})
    for name, state, health in (
        ("prometheus", "running", "healthy"),
        ("app", "running", "healthy"),
        ("worker", "running", "healthy"),
        ("redis", "exited", ""),
        ("demo-traffic", "running", ""),
    )
)


def test_compose_logs_of_prometheus_the_down_targets_service_and_unhealthy_ones(
    mock_context: Callable[..., MockContext], tmp_path: Path
) -> None:
    c = mock_context(
        {
            rf"^{COMPOSE} ps --format json --all$": result(PS),
            rf"^{COMPOSE} logs --no-color --tail 50 worker$": result("worker | no broker"),
            rf"^{COMPOSE} logs --no-color --tail 50 (prometheus|redis)$": result("lines"),
        }
    )
    collect = local_logs.compose_logs(c, c.config)
    outcome = round_([UP, DOWN], targets(("app:8000", "up"), ("worker:8001", "down")))
    logs = collect(outcome)
    assert list(logs) == [
        "compose service prometheus",
        "compose service worker",
        "compose service redis",
    ]
    assert logs["compose service worker"] == "worker | no broker"
    # Written into the report beside its page, and shown there.
    page = evidence.report_round(tmp_path, outcome, failure_logs=collect)
    assert (tmp_path / "logs/compose-service-worker.log").read_text() == "worker | no broker"
    assert "worker | no broker" in page.read_text()


def test_a_failed_query_involves_every_scraped_service(
    mock_context: Callable[..., MockContext],
) -> None:
    c = mock_context({rf"^{COMPOSE} ps --format json --all$": result(PS)})
    query = CheckResult("query: Error rate", "AC7", False, ["returned no data"])
    states = local_logs.compose.parse_ps(PS)
    outcome = round_([query], targets(("app:8000", "up"), ("worker:8001", "up")))
    assert local_logs.involved_services(outcome, states) == [
        "prometheus",
        "app",
        "worker",
        "redis",
    ]
    assert commands(c) == []


def test_another_server_than_the_stack_collects_no_compose_logs(
    mock_context: Callable[..., MockContext],
) -> None:
    c = mock_context({})
    collect = local_logs.compose_logs(c, c.config)
    assert collect(round_([DOWN], targets(), url="http://elsewhere:9090")) == {}
    assert commands(c) == []


def pods(*pods: tuple[str, str, bool]) -> str:
    items = [
        {
            "metadata": {"name": name},
            "status": {
                "phase": "Running",
                "podIP": ip,
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }
        for name, ip, ready in pods
    ]
    return json.dumps({"items": items})


def test_kube_events_and_logs_of_prometheus_and_the_pod_behind_a_down_target(
    mock_context: Callable[..., MockContext],
) -> None:
    selector = "--selector app.kubernetes.io/part-of=promkit -o json"
    c = mock_context(
        {
            rf"^{KCTL} get pods --namespace monitoring {selector}$": result(
                pods(("prometheus-0", "10.0.0.5", True))
            ),
            rf"^{KCTL} get pods --namespace promkit-sample {selector}$": result(
                pods(("app-a", "10.0.0.7", True), ("worker-b", "10.0.0.8", True))
            ),
            rf"^{KCTL} events --namespace (monitoring|promkit-sample) --for pod/": result(
                "Warning  Unhealthy  Readiness probe failed"
            ),
            rf"^{KCTL} logs --namespace \S+ \S+ --all-containers --tail=50$": result("log line"),
        }
    )
    answer = targets(("10.0.0.7:8000", "up"), ("10.0.0.8:8001", "down"))
    logs = k8s_logs.kube_logs(c, c.config, "dev")(round_([DOWN], answer))
    assert list(logs) == [
        "events of pod monitoring/prometheus-0",
        "log of pod monitoring/prometheus-0",
        "events of pod promkit-sample/worker-b",
        "log of pod promkit-sample/worker-b",
    ]
    assert logs["events of pod promkit-sample/worker-b"].endswith("Readiness probe failed")
    assert f"{KCTL} events --namespace promkit-sample --for pod/app-a" not in commands(c)


def test_a_failed_delivery_involves_the_alerting_services() -> None:
    with_alerting = (
        PS
        + "\n"
        + "\n".join(
            json.dumps({"Service": name, "Name": f"promkit-{name}-1", "State": "running"})
            for name in ("alertmanager-1", "alertmanager-2", "alert-sink")
        )
    )
    states = local_logs.compose.parse_ps(with_alerting)
    delivery = CheckResult("delivery", "AC-alerts", False, ["sink never called"])
    outcome = round_([delivery], targets(("app:8000", "up"), ("worker:8001", "up")))
    assert local_logs.involved_services(outcome, states) == [
        "prometheus",
        "redis",
        "alertmanager-1",
        "alertmanager-2",
        "alert-sink",
    ]
    quiet = CheckResult("quiet", "AC-alerts", False, ["firing beyond the always-on: X"])
    passing = round_([quiet], targets(("app:8000", "up"), ("worker:8001", "up")))
    assert local_logs.involved_services(passing, states) == ["prometheus", "redis"]
