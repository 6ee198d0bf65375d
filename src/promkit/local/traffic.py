"""Sample traffic for the sample app: service-desk webhooks, bounded in count and time.

The webhooks go out one after another over one ``requests.Session`` (its connection
kept alive where the app allows), each with its own timeout.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import requests

from promkit.core.errors import ConfigError, PromkitError
from promkit.core.settings import check_url
from promkit.verify.client import reason

WEBHOOK_PATH = "/webhook/servicedesk"
DEFAULT_TENANTS: tuple[str, ...] = ("acme", "globex", "initech")
MAX_COUNT = 10_000
MAX_DURATION_S = 600.0
_TENANT = re.compile(r"^[a-z0-9-]{1,64}$")


@dataclass(frozen=True)
class TrafficSummary:
    """What a burst of webhooks got back: HTTP status -> count, and transport failures."""

    url: str
    by_status: Mapping[int, int] = field(default_factory=dict)
    failed: int = 0
    elapsed_s: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.by_status.values()) + self.failed

    @property
    def accepted(self) -> int:
        return self.by_status.get(202, 0)

    def line(self) -> str:
        """One line for a terminal: ``sent 20 webhooks to URL in 1.3s: 18x202, 2x422``."""
        parts = [f"{n}x{code}" for code, n in sorted(self.by_status.items())]
        if self.failed:
            parts.append(f"{self.failed} without answer")
        return f"sent {self.sent} webhooks to {self.url} in {self.elapsed_s:.1f}s: " + ", ".join(
            parts
        )


def webhook_url(app_url: str) -> str:
    """The webhook endpoint of the app at ``app_url``, or a ConfigError."""
    example = "use e.g. http://127.0.0.1:8000"
    return check_url(app_url, "app url", example, "the sample app takes none") + WEBHOOK_PATH


def check_limits(count: int, duration_s: float) -> None:
    """Raise ConfigError unless 1 <= count <= 10000 and 0 < duration_s <= 600."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ConfigError(
            f"traffic count must be a whole number from 1 to {MAX_COUNT}, got {count!r}"
        )
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float):
        raise ConfigError(f"traffic duration must be a number of seconds, got {duration_s!r}")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ConfigError(
            f"traffic duration must be more than 0 and at most {MAX_DURATION_S:g} seconds, "
            f"got {duration_s!r}"
        )


def check_options(tenants: Sequence[str], invalid_every: int, timeout: float) -> None:
    """Raise ConfigError for an empty or malformed tenant list, or bad pacing options."""
    if not tenants or isinstance(tenants, str):
        raise ConfigError("traffic needs a list of tenants, e.g. ('acme', 'globex')")
    bad = [t for t in tenants if not isinstance(t, str) or not _TENANT.match(t)]
    if bad:
        raise ConfigError(f"tenant ids must match [a-z0-9-]{{1,64}}, got {bad!r}")
    if isinstance(invalid_every, bool) or not isinstance(invalid_every, int) or invalid_every < 0:
        raise ConfigError(
            f"invalid_every must be 0 (never) or a positive number, got {invalid_every!r}"
        )
    if not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ConfigError(
            f"traffic timeout must be more than 0 and at most 60 seconds, got {timeout!r}"
        )


def ticket(index: int, tenants: Sequence[str], invalid_every: int) -> dict[str, str]:
    """The ``index``-th webhook body: tenants in turn; every ``invalid_every``-th one invalid."""
    body = {
        "tenant_id": tenants[index % len(tenants)],
        "ticket_id": f"PK-{index + 1}",
        "summary": f"Printer on floor {index % 7 + 1} jams on every duplex job",
        "priority": ("low", "medium", "high", "critical")[index % 4],
    }
    if invalid_every and (index + 1) % invalid_every == 0:
        body["tenant_id"] = "Not A Slug!"  # the app must answer 422
    return body


def post_json(session: requests.Session, url: str, body: Mapping[str, str], timeout: float) -> int:
    """POST ``body`` as JSON and return the HTTP status; requests' errors propagate."""
    with session.post(url, json=body, timeout=timeout) as response:
        return response.status_code


def post_webhooks(
    app_url: str,
    *,
    count: int,
    duration_s: float,
    tenants: Sequence[str] = DEFAULT_TENANTS,
    invalid_every: int = 0,
    timeout: float = 2.0,
) -> TrafficSummary:
    """POST up to ``count`` webhooks to the app, stopping after ``duration_s`` seconds.

    Requests go one after another; the last may end up to ``timeout`` after the
    deadline. Raises PromkitError when the very first request gets no HTTP answer.
    """
    check_limits(count, duration_s)
    check_options(tenants, invalid_every, timeout)
    url = webhook_url(app_url)
    statuses: Counter[int] = Counter()
    failed = 0
    started = time.monotonic()
    with requests.Session() as session:
        for index in range(count):
            if index and time.monotonic() - started >= duration_s:
                break
            try:
                body = ticket(index, tenants, invalid_every)
                statuses[post_json(session, url, body, timeout)] += 1
            except requests.RequestException as exc:
                if index == 0:
                    raise PromkitError(
                        f"the sample app at {app_url} gave no answer ({reason(exc)}): "
                        "is it running? (inv deploy.local)"
                    ) from None
                failed += 1
    return TrafficSummary(url, dict(statuses), failed, time.monotonic() - started)


def require_accepted(summary: TrafficSummary) -> None:
    """Raise PromkitError when the app queued none of the webhooks (nothing to measure)."""
    if summary.accepted == 0:
        raise PromkitError(
            f"the app queued none of the webhooks ({summary.line()}): "
            "a 503 means it cannot reach Redis; check `inv status.local`"
        )
