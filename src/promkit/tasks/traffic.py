"""``inv traffic``: post sample webhooks to the app so its metrics have data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invoke.context import Context
from invoke.tasks import task

from promkit import traffic as traffic_lib
from promkit.errors import ConfigError
from promkit.settings import section
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


def _flag_or(flag: str | None, settings: Mapping[str, Any], key: str) -> Any:
    """The flag's value if given (even a bad one, to be reported), else the setting ``key``."""
    return flag if flag is not None else settings.get(key)


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
    settings = section(c.config, "traffic")
    summary = traffic_lib.post_webhooks(
        url or str(section(c.config, "compose").get("app_url")),
        count=as_int(_flag_or(count, settings, "count"), "traffic count"),
        duration_s=as_seconds(_flag_or(duration, settings, "duration"), "traffic duration"),
        tenants=traffic_lib.DEFAULT_TENANTS,
        invalid_every=as_int(settings.get("invalid_every", 0), "traffic.invalid_every"),
    )
    print(summary.line())
    traffic_lib.require_accepted(summary)
