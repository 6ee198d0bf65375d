"""The sample app's Redis QoS: a late ack on a channel a lost connection closed.

No server: the channels here are in the states kombu leaves them in after an outage
(tests/integration/test_sample_app.py has the outage itself).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from kombu.message import Message
from kombu.transport import redis as kombu_redis

from sample_app.broker import QoS, make_celery
from sample_app.settings import Settings

LOG = logging.getLogger("celery.worker.request")


def transport() -> Any:
    """The worker's own transport (not connected: kombu connects on first use)."""
    return make_celery("test", Settings(), with_backend=False).connection_for_write().transport


def closed_channel() -> Any:
    """A channel as kombu leaves it once closed: marked closed, without its transport."""
    channel = object.__new__(kombu_redis.Channel)
    channel.closed, channel.connection = True, None
    return channel


def channel_of_closed_connection() -> Any:
    """A channel whose connection was closed: its transport has no client any more."""
    channel = object.__new__(kombu_redis.Channel)
    channel.closed, channel.connection = False, transport()
    channel.connection.client.close()
    assert channel.connection.client is None
    return channel


def test_the_workers_redis_channels_use_the_sample_qos() -> None:
    assert transport().Channel.QoS is QoS
    assert QoS.restore_at_shutdown is False


@pytest.mark.parametrize("make_channel", [closed_channel, channel_of_closed_connection])
@pytest.mark.parametrize(
    "settle",
    [
        pytest.param(lambda m: m.ack_log_error(LOG, transport().connection_errors), id="ack"),
        pytest.param(
            lambda m: m.reject_log_error(LOG, transport().connection_errors, requeue=True),
            id="reject-requeue",
        ),
        pytest.param(lambda m: m.reject_log_error(LOG, transport().connection_errors), id="reject"),
    ],
)
def test_settling_a_job_on_a_closed_channel_is_a_connection_error_celery_logs(
    make_channel: Callable[[], Any],
    settle: Callable[[Message], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Celery settles a late-acked job this way; kombu's own QoS raised AttributeError
    # here, which passed through and stopped the worker ("Unrecoverable error").
    channel = make_channel()
    channel._qos = QoS(channel)
    message = Message(body="{}", channel=channel, delivery_tag="tag-1")
    with caplog.at_level(logging.CRITICAL, logger=LOG.name):
        settle(message)
    assert "Couldn't" in caplog.text and "tag-1" in caplog.text
    assert "the channel it came on was closed" in caplog.text
