"""The sample app for real: redis-server, the FastAPI app under uvicorn and a Celery worker.

Each test gets fresh processes on free loopback ports (tests/support/sample_app.py)
and proves one promise of sample_app/README.md through HTTP and redis-cli.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promkit.local.traffic import post_webhooks
from sample_app.settings import TASK_NAME
from tests.support import Background, inv, request, run, taken_port, wait_for
from tests.support.sample_app import ROOT, SampleStack, value

pytestmark = pytest.mark.integration

StartStack = Callable[..., SampleStack]


@pytest.fixture
def start_stack() -> Iterator[StartStack]:
    """Start redis + app (+ worker); every process is stopped at teardown, pass or fail."""
    stacks: list[SampleStack] = []

    def start(worker: bool = True, **env: str) -> SampleStack:
        stack = SampleStack(**env)
        stacks.append(stack)
        stack.start_redis()
        stack.start_app()
        if worker:
            stack.start_worker()
        return stack

    yield start
    for stack in stacks:
        print(stack.logs())  # shown by pytest only when the test failed
        stack.stop_all()


def ticket(tenant: str = "acme", **fields: object) -> dict[str, object]:
    return {"tenant_id": tenant, "ticket_id": "SD-1", "summary": "VPN drops hourly", **fields}


def processed(stack: SampleStack, tenant: str) -> tuple[float, float]:
    """(successes, failures) the worker has counted for ``tenant``."""
    found = stack.worker_metrics()
    success = value(found, "enhancement_requests_total", tenant_id=tenant, status="success")
    failure = value(found, "enhancement_requests_total", tenant_id=tenant, status="failure")
    return success or 0.0, failure or 0.0


def wait_processed(stack: SampleStack, tenant: str, total: int, timeout: float = 30) -> None:
    wait_for(
        f"the worker to finish {total} tasks of {tenant}",
        lambda: sum(processed(stack, tenant)) == total,
        timeout=timeout,
    )


INVALID_TICKETS: list[tuple[dict[str, object], str, str]] = [
    ({"tenant_id": "Acme", "ticket_id": "1", "summary": "s"}, "tenant_id", "unknown"),
    ({"tenant_id": "a" * 65, "ticket_id": "1", "summary": "s"}, "tenant_id", "unknown"),
    ({"tenant_id": "", "ticket_id": "1", "summary": "s"}, "tenant_id", "unknown"),
    ({"ticket_id": "1", "summary": "s"}, "tenant_id", "unknown"),
    (ticket(ticket_id=""), "ticket_id", "acme"),
    (ticket(summary="x" * 2001), "summary", "acme"),
    (ticket(priority="urgent"), "priority", "acme"),
    (ticket(tenant="globex", summary=None), "summary", "globex"),
]


def test_webhook_accepts_valid_tickets_and_rejects_invalid_ones(start_stack: StartStack) -> None:
    stack = start_stack(worker=False)
    for body in (
        ticket(),
        ticket(tenant="a" * 64, summary="x" * 2000, priority="critical"),
        ticket(tenant="tenant-42", priority="low"),
    ):
        status, answer = stack.post_ticket(body)
        assert status == 202, answer
        assert isinstance(answer["task_id"], str) and len(answer["task_id"]) >= 32

    for body, field, _ in INVALID_TICKETS:
        status, answer = stack.post_ticket(body)
        assert status == 422, (body, answer)
        assert any(field in error["loc"] for error in answer["detail"]), answer
    status, _ = request("POST", f"{stack.app_url}/webhook/servicedesk", "not a ticket")
    assert status == 422

    found = stack.app_metrics()
    for tenant in ("unknown", "acme", "globex"):
        expected = sum(1 for *_, label in INVALID_TICKETS if label == tenant)
        expected += 1 if tenant == "unknown" else 0  # the non-object body
        assert value(found, "enhancement_requests_total", tenant_id=tenant, status="rejected") == (
            expected
        ), tenant
    assert stack.llen() == 3


def test_worker_counts_outcomes_durations_and_success_rate(start_stack: StartStack) -> None:
    # Half fail: 40 tasks all landing on one side has a chance of 2 in 2**40.
    stack = start_stack(SAMPLE_APP_FAILURE_RATE="0.5")
    for index in range(40):
        assert stack.post_ticket(ticket(ticket_id=f"A-{index}"))[0] == 202
    for index in range(5):
        assert stack.post_ticket(ticket(tenant="globex", ticket_id=f"G-{index}"))[0] == 202
    wait_processed(stack, "acme", 40)
    wait_processed(stack, "globex", 5)

    found = stack.worker_metrics()
    success, failure = processed(stack, "acme")
    assert success >= 1 and failure >= 1, (success, failure)
    rate = value(found, "enhancement_success_rate", tenant_id="acme")
    assert rate == pytest.approx(100 * success / 40)
    assert value(found, "enhancement_duration_seconds_count") == 45
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in found.items()
        if name == "enhancement_duration_seconds_bucket"
    )
    assert [le for le, _ in buckets][:3] == [0.1, 0.25, 0.5] and buckets[-1] == (float("inf"), 45)
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))
    assert 0 < (value(found, "enhancement_duration_seconds_sum") or 0) < 45 * 5
    assert value(found, "worker_active_count") == 0
    # Known tenants exist from the start, at zero.
    assert value(found, "enhancement_requests_total", tenant_id="initech", status="failure") == 0


def test_worker_active_count_is_the_tasks_running_now(start_stack: StartStack) -> None:
    stack = start_stack(SAMPLE_APP_LATENCY_SCALE="1", SAMPLE_APP_FAILURE_RATE="0")
    for index in range(4):
        assert stack.post_ticket(ticket(ticket_id=f"B-{index}"))[0] == 202
    seen: list[float] = []

    def both_threads_busy() -> bool:
        seen.append(value(stack.worker_metrics(), "worker_active_count") or 0)
        return seen[-1] == 2

    wait_for("2 tasks running at once (concurrency 2)", both_threads_busy, timeout=15)
    wait_processed(stack, "acme", 4, timeout=30)
    assert value(stack.worker_metrics(), "worker_active_count") == 0
    assert max(seen) == 2


def test_queue_depth_is_the_length_of_the_redis_list(start_stack: StartStack) -> None:
    stack = start_stack()
    stack.stop("worker")
    before = stack.llen()
    for index in range(7):
        assert stack.post_ticket(ticket(ticket_id=f"Q-{index}"))[0] == 202
    assert stack.llen() == before + 7
    assert value(stack.app_metrics(), "queue_depth", queue_name="enhancement:queue") == (
        stack.llen()
    )

    stack.start_worker()
    wait_for(
        "the worker to drain the queue",
        lambda: value(stack.app_metrics(), "queue_depth", queue_name="enhancement:queue") == 0,
        timeout=20,
    )
    assert stack.llen() == 0
    wait_processed(stack, "acme", before + 7)


def test_without_redis_the_app_answers_503_fast_and_keeps_serving(
    start_stack: StartStack,
) -> None:
    stack = start_stack()
    assert value(stack.app_metrics(), "sample_app_redis_up") == 1
    stack.stop("redis")

    started = time.monotonic()
    status, answer = stack.post_ticket(ticket())
    assert status == 503, answer
    assert time.monotonic() - started < 3
    assert "Redis" in answer["detail"] and "retry later" in answer["detail"]

    found = stack.app_metrics()
    assert value(found, "queue_depth", queue_name="enhancement:queue") is None  # no made-up 0
    assert value(found, "sample_app_redis_up") == 0
    assert value(found, "enhancement_requests_total", tenant_id="acme", status="unavailable") == 1
    status, health = request("GET", f"{stack.app_url}/health")
    assert status == 200 and health["status"] == "ok" and health["redis"] == "down"
    # The liveness endpoint does not ask Redis: it stays 200 while Redis is down.
    assert request("GET", f"{stack.app_url}/livez") == (200, {"status": "ok"})
    assert stack.processes["app"].alive

    stack.start_redis()  # same port: the app and the worker recover by themselves
    assert stack.post_ticket(ticket(ticket_id="after"))[0] == 202
    found = stack.app_metrics()
    assert value(found, "sample_app_redis_up") == 1
    assert value(found, "queue_depth", queue_name="enhancement:queue") is not None
    wait_processed(stack, "acme", 1, timeout=60)


def post_job(stack: SampleStack, ticket_id: str) -> str:
    """Queue one ticket; the id of its Celery task."""
    status, answer = stack.post_ticket(ticket(ticket_id=ticket_id))
    assert status == 202, answer
    return str(answer["task_id"])


def task_line(task_id: str, what: str) -> str:
    """The worker's log line for ``task_id``, e.g. its ``succeeded``."""
    return f"Task {TASK_NAME}[{task_id}] {what}"


def assert_serves_a_job_posted_after(stack: SampleStack, outage: str) -> None:
    """The worker, alive after ``outage``, runs a job posted now to success."""
    worker = stack.processes["worker"]
    after = post_job(stack, "after")
    wait_for(
        "the job posted after the outage to succeed",
        lambda: task_line(after, "succeeded") in worker.log() or not worker.alive,
        timeout=60,
    )
    assert worker.alive, f"the worker died after {outage}:\n{worker.log()[-3000:]}"
    assert "Unrecoverable error" not in worker.log()


def test_the_worker_outlives_redis_going_away_with_jobs_in_flight(
    start_stack: StartStack, tmp_path: Path
) -> None:
    # Jobs in flight when Redis goes: kombu then tried to hand the unacknowledged ones
    # back to the Redis it had just lost, and the worker died of it. A job that outlasts
    # the outage acks on the channel the outage closed (the next test makes sure of that).
    # Four threads, as compose/ and k8s/ run it (with two the race did not show).
    stack = start_stack(worker=False, SAMPLE_APP_LATENCY_SCALE="1")
    stack.start_worker(concurrency=4)
    demo = [sys.executable, "-m", "sample_app.demo_traffic", stack.app_url, "5"]
    traffic = Background(demo, tmp_path / "demo-traffic.log", env=stack.env).start()
    worker = stack.processes["worker"]
    try:
        # In flight: tasks running now (worker_active_count), unacknowledged under late
        # acks. Redis goes as soon as the worker says two or more of its four threads are
        # busy; without that the test would pass whether or not any job was in flight.
        def running() -> float | None:
            now = value(stack.worker_metrics(), "worker_active_count") or 0
            return now if now >= 2 else None

        in_flight = wait_for("2 or more jobs in flight", running, timeout=30)
        stack.stop("redis")
        # Past the point where it used to die: it has given back its jobs and is trying
        # to reconnect.
        wait_for(
            "the worker to try to reconnect",
            lambda: "Cannot connect to redis" in worker.log() or not worker.alive,
            timeout=30,
        )
    finally:
        traffic.stop()
    why = f"the worker died without Redis ({in_flight:g} jobs in flight when it went)"
    assert worker.alive, f"{why}:\n{worker.log()[-3000:]}"
    assert "Connection to broker lost" in worker.log()
    stack.start_redis()  # an empty Redis on the same port: the worker carries on
    # Whatever outlasted the outage ends now, its ack going to the closed channel.
    wait_for(
        "the jobs in flight to end",
        lambda: not worker.alive or value(stack.worker_metrics(), "worker_active_count") == 0,
        timeout=30,
    )
    assert_serves_a_job_posted_after(stack, "the outage")


def test_a_job_that_outlasts_a_redis_outage_does_not_stop_the_worker(
    start_stack: StartStack,
) -> None:
    # Its late ack goes to the channel the outage closed: kombu raised AttributeError
    # there, Celery's "Unrecoverable error", and the worker stopped. Every job takes 3 s
    # (no spread), far longer than the outage: checked below, not assumed.
    stack = start_stack(
        worker=False,
        SAMPLE_APP_LATENCY_SCALE="6",
        SAMPLE_APP_LATENCY_SPREAD="0",
        SAMPLE_APP_FAILURE_RATE="0",
    )
    stack.start_worker(concurrency=1)
    worker = stack.processes["worker"]
    job = post_job(stack, "in-flight")
    wait_for(
        "the job to be running",
        lambda: value(stack.worker_metrics(), "worker_active_count") == 1,
        timeout=30,
    )
    stack.stop("redis")
    # Celery says so for a job not yet acknowledged when the connection went.
    wait_for(
        "the worker to see the job cut off from Redis",
        lambda: task_line(job, "cannot be acknowledged after a connection loss") in worker.log(),
        timeout=30,
    )
    stack.start_redis()
    running = value(stack.worker_metrics(), "worker_active_count")
    assert running == 1, f"the job ended before Redis was back: nothing provoked ({running})"
    wait_for(
        "the job to end and its ack to be tried",
        lambda: "Couldn't ack" in worker.log() or "Unrecoverable error" in worker.log(),
        timeout=30,
    )
    assert task_line(job, "succeeded") in worker.log()
    assert "Unrecoverable error" not in worker.log(), worker.log()[-3000:]
    assert "ChannelClosedError" in worker.log()
    assert_serves_a_job_posted_after(stack, "a lost ack")
    assert processed(stack, "acme") == (2, 0)


def test_worker_stops_when_its_metrics_port_is_taken(start_stack: StartStack) -> None:
    stack = start_stack(worker=False)
    with taken_port(stack.metrics_port):
        worker = stack.spawn_worker()
        wait_for("the worker to exit", lambda: not worker.alive, timeout=30)
    assert worker.exit_code != 0
    assert f"cannot serve worker metrics on 127.0.0.1:{stack.metrics_port}" in worker.log()


def test_probe_exits_0_only_for_a_200(start_stack: StartStack) -> None:
    stack = start_stack(worker=False)

    def probe(*args: str) -> int:
        argv = [sys.executable, "-m", "sample_app.probe", *args]
        return run(argv, cwd=ROOT, timeout=10).returncode

    assert probe(f"{stack.app_url}/health") == 0
    assert probe(f"{stack.app_url}/metrics") == 0
    assert probe(f"{stack.app_url}/no-such-page") == 1
    assert probe(f"http://127.0.0.1:{stack.metrics_port}/metrics") == 1  # nothing listens
    assert probe() == 2


def test_traffic_generator_against_the_real_app(start_stack: StartStack) -> None:
    stack = start_stack(SAMPLE_APP_FAILURE_RATE="0")
    summary = post_webhooks(stack.app_url, count=20, duration_s=30, invalid_every=5)
    assert dict(summary.by_status) == {202: 16, 422: 4} and summary.failed == 0
    found = stack.app_metrics()
    assert value(found, "enhancement_requests_total", tenant_id="unknown", status="rejected") == 4
    wait_for(
        "the worker to process the 16 accepted tickets",
        lambda: sum(sum(processed(stack, t)) for t in ("acme", "globex", "initech")) == 16,
        timeout=20,
    )
    assert processed(stack, "acme")[0] >= 1

    done = inv("traffic", "--count", "6", "--url", stack.app_url, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"sent 6 webhooks to {stack.app_url}/webhook/servicedesk" in done.stdout
    assert "6x202" in done.stdout
