"""The sample app's settings, read once from the environment (see README.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

#: The Celery queue, and so the Redis list that holds waiting jobs.
QUEUE_NAME = "enhancement:queue"
#: The name under which the worker registers the enhancement task.
TASK_NAME = "sample_app.enhance"


def _env_float(name: str, default: float, *, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        message = f"{name} must be a number between {low:g} and {high:g}, got {raw!r}"
        raise SystemExit(message) from None
    if not low <= value <= high:
        raise SystemExit(f"{name} must be between {low:g} and {high:g}, got {raw!r}")
    return value


def _env_tenants() -> tuple[str, ...]:
    raw = os.environ.get("SAMPLE_APP_TENANTS", "acme,globex,initech")
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def redacted(url: str) -> str:
    """``url`` without its password, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


@dataclass(frozen=True)
class Settings:
    """Everything the app and the worker read from the environment."""

    redis_url: str = field(
        default_factory=lambda: os.environ.get("REDIS_URL", "redis://redis:6379/0")
    )
    #: Seconds to connect to / wait on Redis before a request gives up.
    redis_timeout: float = field(
        default_factory=lambda: _env_float("SAMPLE_APP_REDIS_TIMEOUT", 1.0, low=0.05, high=30)
    )
    #: Multiplies the simulated latency (0.01 makes tests fast).
    latency_scale: float = field(
        default_factory=lambda: _env_float("SAMPLE_APP_LATENCY_SCALE", 1.0, low=0, high=100)
    )
    #: Spread (sigma) of the lognormal latency; 0 makes every job take the median.
    latency_spread: float = field(
        default_factory=lambda: _env_float("SAMPLE_APP_LATENCY_SPREAD", 0.6, low=0, high=2)
    )
    failure_rate: float = field(
        default_factory=lambda: _env_float("SAMPLE_APP_FAILURE_RATE", 0.05, low=0, high=1)
    )
    metrics_port: int = field(
        default_factory=lambda: int(_env_float("WORKER_METRICS_PORT", 8001, low=1, high=65535))
    )
    metrics_addr: str = field(
        default_factory=lambda: os.environ.get("WORKER_METRICS_ADDR", "0.0.0.0")
    )
    #: Tenants whose series exist from the start (zero counters).
    tenants: tuple[str, ...] = field(default_factory=_env_tenants)
