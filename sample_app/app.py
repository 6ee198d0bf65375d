"""The web app: takes service-desk webhooks and queues them for the Celery worker.

``GET /livez`` (200 while the process serves: the liveness probe, never waits on
Redis), ``GET /health`` (always 200, reports Redis within its timeout: readiness),
``GET /metrics``, and
``POST /webhook/servicedesk`` (202 queued, 422 invalid, 503 Redis unreachable).
The app exports what it sees: ``enhancement_requests_total`` for the requests it
turned away (status rejected|unavailable) and ``queue_depth`` read from Redis
at scrape time. Outcomes of the work are the worker's metrics.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import redis
from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from kombu.exceptions import OperationalError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from sample_app.broker import make_celery, redis_client
from sample_app.settings import QUEUE_NAME, TASK_NAME, Settings, redacted

log = logging.getLogger(__name__)

TENANT_PATTERN = r"^[a-z0-9-]{1,64}$"
WEBHOOK_PATH = "/webhook/servicedesk"

SETTINGS = Settings()
REDIS = redis_client(SETTINGS)
CELERY = make_celery("sample_app.app", SETTINGS, with_backend=False)

# Counters' *_created series only double the series count here.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "enhancement_requests",
    "Webhook requests the app turned away, by tenant and reason (rejected|unavailable).",
    ["tenant_id", "status"],
)


class Ticket(BaseModel):
    """A service-desk ticket to enhance."""

    tenant_id: Annotated[str, Field(pattern=TENANT_PATTERN, description="slug, [a-z0-9-]{1,64}")]
    ticket_id: Annotated[str, Field(min_length=1)]
    summary: Annotated[str, Field(max_length=2000)]
    priority: Literal["low", "medium", "high", "critical"] | None = None


class QueueDepthCollector(Collector):
    """``queue_depth`` as the real length of the Redis list, read at scrape time.

    When Redis cannot be read the sample is left out (never a made-up 0) and
    ``sample_app_redis_up`` says 0.
    """

    def __init__(self, client: redis.Redis, queue_name: str) -> None:
        self._client = client
        self._queue_name = queue_name

    def describe(self) -> Iterable[Metric]:
        return [self._depth(), self._up()]

    def collect(self) -> Iterable[Metric]:
        depth, up = self._depth(), self._up()
        try:
            length = int(self._client.llen(self._queue_name))
        except redis.RedisError as exc:
            log.warning("queue_depth: cannot read %s from Redis: %s", self._queue_name, exc)
            up.add_metric([], 0)
        else:
            depth.add_metric([self._queue_name], length)
            up.add_metric([], 1)
        return [depth, up]

    def _depth(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "queue_depth", "Jobs waiting in the Redis queue.", labels=["queue_name"]
        )

    @staticmethod
    def _up() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "sample_app_redis_up", "1 if the app could read the queue from Redis at this scrape."
        )


def preinitialise(tenants: Iterable[str]) -> None:
    """Create the known tenants' counters at zero, so rate() has a series from the start."""
    for tenant_id in tenants:
        for reason in ("rejected", "unavailable"):
            REQUESTS.labels(tenant_id=tenant_id, status=reason)


def tenant_label(body: Any) -> str:
    """The tenant of a request body when it is a valid slug, else ``unknown``."""
    tenant = body.get("tenant_id") if isinstance(body, dict) else None
    if isinstance(tenant, str) and re.fullmatch(TENANT_PATTERN, tenant):
        return tenant
    return "unknown"


REGISTRY.register(QueueDepthCollector(REDIS, QUEUE_NAME))
preinitialise(SETTINGS.tenants)
app = FastAPI(title="promkit sample app")


@app.exception_handler(RequestValidationError)
async def count_rejected(request: Request, exc: RequestValidationError) -> Response:
    """Answer 422 as FastAPI does, counting rejected webhooks."""
    if request.url.path == WEBHOOK_PATH:
        REQUESTS.labels(tenant_id=tenant_label(exc.body), status="rejected").inc()
    return await request_validation_exception_handler(request, exc)


@app.get("/livez")
def livez() -> dict[str, str]:
    """200 while the process serves: a liveness probe that no downstream can fail."""
    return {"status": "ok"}


@app.get("/health")
def health() -> dict[str, str]:
    """200 while the app serves; says whether Redis answers, without failing on it."""
    try:
        REDIS.ping()
    except redis.RedisError as exc:
        return {"status": "ok", "redis": "down", "detail": str(exc)}
    return {"status": "ok", "redis": "up"}


@app.get("/metrics")
def metrics() -> Response:
    """The app's metrics in Prometheus' text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@app.post(WEBHOOK_PATH, status_code=status.HTTP_202_ACCEPTED)
def servicedesk_webhook(ticket: Ticket) -> JSONResponse:
    """Queue ``ticket`` for enhancement: 202 with its task id, or 503 without Redis."""
    try:
        result = CELERY.send_task(TASK_NAME, kwargs=ticket.model_dump(exclude_none=True))
    except (OperationalError, redis.RedisError, OSError) as exc:
        REQUESTS.labels(tenant_id=ticket.tenant_id, status="unavailable").inc()
        detail = (
            f"task queue unavailable: cannot reach Redis at {redacted(SETTINGS.redis_url)} "
            f"({exc}); retry later"
        )
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=detail) from None
    return JSONResponse({"task_id": result.id}, status_code=status.HTTP_202_ACCEPTED)
