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


class ChannelClosedError(redis.ConnectionError):
    """An ack or reject of a job that was delivered on a channel closed since."""


class QoS(kombu_redis.QoS):
    """kombu's Redis QoS (ack emulation) for kombu 5.7.0, as pinned in requirements.txt.

    Two workarounds for a Redis outage while jobs are in flight (celery 5.6 and 5.7):

    - When the connection is lost, kombu's channel tries to put the worker's
      unacknowledged jobs back into Redis, which is just what it cannot reach: it fails
      on the closed transport (AttributeError: 'NoneType' object has no attribute
      'hostname'), so that is not done (``restore_at_shutdown``).
    - A job that was running then ends later, and its late ack or reject reaches the
      channel the outage closed: kombu looks for the channel's Redis connection and
      raises AttributeError ('NoneType' object has no attribute 'client'), which Celery
      takes for an "Unrecoverable error" that stops the worker once its running jobs
      end. Here it is a ChannelClosedError instead, a connection error: Celery logs
      "Couldn't ack" and carries on.

    Either way the job stays in Redis' unacked set, and a worker puts it back on the
    queue after VISIBILITY_TIMEOUT_S (so it may run twice: at least once, as late acks are).
    """

    restore_at_shutdown = False

    def ack(self, delivery_tag: str) -> None:
        self._refuse_if_closed("acknowledge", delivery_tag)
        super().ack(delivery_tag)  # type: ignore[no-untyped-call]

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        self._refuse_if_closed("reject", delivery_tag)
        super().reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]

    def _refuse_if_closed(self, what: str, delivery_tag: str) -> None:
        transport = self.channel.connection
        if self.channel.closed or transport is None or transport.client is None:
            raise ChannelClosedError(
                f"cannot {what} job {delivery_tag}: the channel it came on was closed by a "
                f"lost connection; Redis keeps it unacknowledged, to be requeued after "
                f"{VISIBILITY_TIMEOUT_S}s"
            )


# Every Redis channel (and Sentinel's) gets it: a transport of our own would have to be
# named in broker_transport, and then the scheme of REDIS_URL (rediss://) would no
# longer choose the transport's options.
kombu_redis.Channel.QoS = QoS


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
