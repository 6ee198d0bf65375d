"""``inv traffic``: post sample webhooks to the app so its metrics have data."""

from __future__ import annotations

from typing import Any

from invoke.context import Context
from invoke.tasks import task

from promkit.core import settings
from promkit.core.errors import ConfigError
from promkit.local import traffic as traffic_lib
from promkit.tasks.common import reports_errors


def as_int(value: Any, key: str) -> int:
    """``value`` (a flag's text or a setting) as an int, or a ConfigError naming ``key``."""
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key} must be a whole number, got {value!r}") from None


def as_seconds(value: Any, key: str) -> float:
    """``value`` as seconds, or a ConfigError naming ``key``."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number of seconds, got {value!r}") from None


def _seconds_or(flag: str | None, setting: float) -> float:
    return setting if flag is None else as_seconds(flag, "traffic duration")


@task(
    help={
        "count": "webhooks to post at most (1-10000; default traffic.count)",
        "duration": "seconds to post for at most (up to 600; default traffic.duration)",
        "url": "the sample app's base URL (default compose.app_url)",
    }
)
@reports_errors
def traffic(
    c: Context, count: str | None = None, duration: str | None = None, url: str | None = None
) -> None:
    """Post sample webhooks to the app (tenants acme, globex, initech)."""
    loaded = settings.load(c.config)
    summary = traffic_lib.post_webhooks(
        url or loaded.compose.app_url,
        count=loaded.traffic.count if count is None else as_int(count, "traffic count"),
        duration_s=_seconds_or(duration, loaded.traffic.duration),
        tenants=traffic_lib.DEFAULT_TENANTS,
        invalid_every=loaded.traffic.invalid_every,
    )
    print(summary.line())
    traffic_lib.require_accepted(summary)
