"""Redis and Celery wiring shared by the app and the worker, with short timeouts.

The queue is one Redis list named ``enhancement:queue``: kombu's priority
steps are reduced to one, so ``LLEN enhancement:queue`` is the real backlog.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery  # type: ignore[import-untyped]
from kombu.transport import redis as kombu_redis  # type: ignore[import-untyped]
from redis.backoff import NoBackoff
from redis.retry import Retry

from sample_app.settings import QUEUE_NAME, Settings

#: Seconds after which a job taken but never acknowledged goes back on the queue
#: (the simulated work takes 5 s at most, before SAMPLE_APP_LATENCY_SCALE).
VISIBILITY_TIMEOUT_S = 120

# When the connection to Redis is lost, kombu's Redis channel tries to put the worker's
# unacknowledged jobs back into Redis, which is just what it cannot reach: with the
# thread pool it then fails on a closed transport (AttributeError: 'NoneType' object
# has no attribute 'hostname'), an "Unrecoverable error" that stops the worker
# (celery 5.6 and 5.7, kombu 5.7). Those jobs are kept in Redis' unacked set anyway,
# and any worker requeues them after VISIBILITY_TIMEOUT_S.
kombu_redis.QoS.restore_at_shutdown = False


def redis_client(settings: Settings) -> redis.Redis:
    """A Redis client that fails within ``settings.redis_timeout`` instead of hanging."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_timeout,
        socket_timeout=settings.redis_timeout,
        retry=Retry(NoBackoff(), 0),
    )


def celery_config(settings: Settings, *, with_backend: bool) -> dict[str, Any]:
    """Celery settings; the app publishes without a result backend (it never waits)."""
    timeouts = {
        "socket_connect_timeout": settings.redis_timeout,
        "socket_timeout": max(settings.redis_timeout, 5.0),
        "priority_steps": [0],
    }
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url if with_backend else None,
        "result_expires": 3600,
        "broker_transport_options": {**timeouts, "visibility_timeout": VISIBILITY_TIMEOUT_S},
        "result_backend_transport_options": timeouts,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": QUEUE_NAME,
        "task_create_missing_queues": True,
        # One quick retry covers a connection Redis dropped; then the app answers 503.
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.1,
            "interval_max": 0.1,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        # Jobs wait in Redis (and show in queue_depth), not in the worker's memory.
        "worker_prefetch_multiplier": 1,
        "task_acks_late": True,
        # With late acks a task cut off from Redis is redelivered, not half-acknowledged.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Threads: one process, one metrics registry (see README.md).
        "worker_pool": "threads",
    }


def make_celery(name: str, settings: Settings, *, with_backend: bool) -> Celery:
    """A Celery app on ``settings.redis_url`` routing everything to ``enhancement:queue``."""
    celery = Celery(name)
    celery.conf.update(celery_config(settings, with_backend=with_backend))
    return celery
