"""The Celery worker: simulated enhancements, and their metrics on WORKER_METRICS_PORT.

Run it with threads so the whole worker is one process with one metrics registry::

    celery --app=sample_app.worker worker --pool=threads --queues=enhancement:queue

Outcome metrics live here, where the work happens: ``enhancement_requests_total``
(status success|failure), ``enhancement_duration_seconds``,
``enhancement_success_rate`` and ``worker_active_count``.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from typing import Any

from celery.signals import worker_init  # type: ignore[import-untyped]
from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from sample_app.broker import make_celery
from sample_app.settings import TASK_NAME, Settings

log = logging.getLogger(__name__)

SETTINGS = Settings()
app = make_celery("sample_app.worker", SETTINGS, with_backend=True)

#: Median and cap of the simulated latency, in seconds, before SAMPLE_APP_LATENCY_SCALE.
MEDIAN_LATENCY_S = 0.5
MAX_LATENCY_S = 5.0
#: How many recent tasks of a tenant its success rate is computed over.
SUCCESS_WINDOW = 100

# Counters' *_created series only double the series count here.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "enhancement_requests",
    "Enhancements processed by the worker, by tenant and outcome (success|failure).",
    ["tenant_id", "status"],
)
DURATION = Histogram(
    "enhancement_duration_seconds",
    "Time the worker took to process one enhancement, successful or not.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0),
)
SUCCESS_RATE = Gauge(
    "enhancement_success_rate",
    f"Percent (0-100) of a tenant's last {SUCCESS_WINDOW} enhancements that succeeded.",
    ["tenant_id"],
)
ACTIVE = Gauge("worker_active_count", "Enhancement tasks this worker is executing right now.")


class EnhancementFailed(Exception):
    """The simulated enhancement failed (as SAMPLE_APP_FAILURE_RATE of them do)."""


class SuccessWindow:
    """Per-tenant outcomes of the most recent tasks, thread-safe."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._outcomes: dict[str, deque[bool]] = {}
        self._lock = threading.Lock()

    def record(self, tenant_id: str, ok: bool) -> float:
        """Add one outcome; return the tenant's success rate in percent."""
        with self._lock:
            window = self._outcomes.setdefault(tenant_id, deque(maxlen=self._size))
            window.append(ok)
            return 100.0 * sum(window) / len(window)


WINDOW = SuccessWindow(SUCCESS_WINDOW)


def simulated_latency(scale: float, spread: float = 0.6, rng: random.Random | None = None) -> float:
    """Seconds one enhancement takes: lognormal around 0.5s (sigma ``spread``), capped at
    5s, times ``scale``."""
    draw = (rng or random).lognormvariate(math.log(MEDIAN_LATENCY_S), spread)
    return min(draw, MAX_LATENCY_S) * scale


def record_outcome(tenant_id: str, ok: bool, seconds: float) -> None:
    """Count one finished enhancement and update its tenant's success rate."""
    REQUESTS.labels(tenant_id=tenant_id, status="success" if ok else "failure").inc()
    DURATION.observe(seconds)
    SUCCESS_RATE.labels(tenant_id=tenant_id).set(WINDOW.record(tenant_id, ok))


@app.task(name=TASK_NAME)  # type: ignore[untyped-decorator]
def enhance(
    tenant_id: str, ticket_id: str, summary: str, priority: str = "medium"
) -> dict[str, Any]:
    """Pretend to enhance a service-desk ticket; fails SAMPLE_APP_FAILURE_RATE of the time."""
    with ACTIVE.track_inprogress():
        started = time.perf_counter()
        time.sleep(simulated_latency(SETTINGS.latency_scale, SETTINGS.latency_spread))
        ok = random.random() >= SETTINGS.failure_rate
        record_outcome(tenant_id, ok, time.perf_counter() - started)
    if not ok:
        raise EnhancementFailed(f"simulated failure enhancing {tenant_id}/{ticket_id}")
    return {"tenant_id": tenant_id, "ticket_id": ticket_id, "words": len(summary.split())}


def preinitialise(tenants: tuple[str, ...]) -> None:
    """Create the known tenants' counters at zero, so rate() has a series from the start."""
    for tenant_id in tenants:
        for status in ("success", "failure"):
            REQUESTS.labels(tenant_id=tenant_id, status=status)


@worker_init.connect  # type: ignore[untyped-decorator]
def start_metrics_server(**_: Any) -> None:
    """Serve this worker's metrics once the worker starts (never on import)."""
    preinitialise(SETTINGS.tenants)
    try:
        start_http_server(SETTINGS.metrics_port, addr=SETTINGS.metrics_addr)
    except OSError as exc:
        # SystemExit passes through Celery's signal dispatch, which swallows Exceptions:
        # a worker without its metrics endpoint must not look healthy.
        where = f"{SETTINGS.metrics_addr}:{SETTINGS.metrics_port}"
        raise SystemExit(f"cannot serve worker metrics on {where}: {exc}") from None
    log.info("worker metrics on http://%s:%d/metrics", SETTINGS.metrics_addr, SETTINGS.metrics_port)
