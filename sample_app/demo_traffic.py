"""Steady demo traffic for the sample stack: ``python -m sample_app.demo_traffic URL RATE``.

Posts one service-desk webhook every 1/RATE seconds to URL (the app's base URL), so
every documented query has data without a separate traffic step. Tenants come in
turn; one webhook in 25 is invalid (the app answers 422) so rejections show too.
RATE is bounded (0 < RATE <= 5 a second) and so is every request (2 s timeout): a
failed request is logged and the next one waits its turn, never a tight loop.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from sample_app.settings import Settings

MAX_RATE = 5.0
TIMEOUT_S = 2.0
INVALID_EVERY = 25
WEBHOOK_PATH = "/webhook/servicedesk"


def ticket(index: int, tenants: Sequence[str]) -> dict[str, str]:
    """The ``index``-th webhook body; every INVALID_EVERY-th one has a malformed tenant."""
    tenant = tenants[index % len(tenants)]
    if (index + 1) % INVALID_EVERY == 0:
        tenant = "Not A Slug!"
    return {
        "tenant_id": tenant,
        "ticket_id": f"DEMO-{index + 1}",
        "summary": "Demo ticket: VPN drops every few minutes",
        "priority": ("low", "medium", "high")[index % 3],
    }


def post(url: str, body: dict[str, str]) -> str:
    """POST ``body`` as JSON; the HTTP status, or what went wrong, as text."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            response.read()
            return str(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return str(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        return f"no answer ({getattr(exc, 'reason', exc)})"


def parse_rate(text: str) -> float:
    """RATE as requests a second, or SystemExit with one line saying what is allowed."""
    try:
        rate = float(text)
    except ValueError:
        raise SystemExit(f"demo traffic rate must be a number, got {text!r}") from None
    if not 0 < rate <= MAX_RATE:
        raise SystemExit(
            f"demo traffic rate must be more than 0 and at most {MAX_RATE:g} a second, got {text!r}"
        )
    return rate


def run(
    url: str,
    rate: float,
    tenants: Sequence[str],
    *,
    count: int | None = None,
    send: Callable[[str, dict[str, str]], str] = post,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Post at ``rate`` a second (``count`` webhooks, or until stopped); how many were sent."""
    period, start, index = 1.0 / rate, clock(), 0
    while count is None or index < count:
        outcome = send(url, ticket(index, tenants))
        if not outcome.isdigit():
            print(f"demo traffic: {url}: {outcome}", file=sys.stderr, flush=True)
        index += 1
        # Paced from the start, so slow answers do not drift the rate upwards.
        sleep(max(0.0, start + index * period - clock()))
    return index


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].startswith(("http://", "https://")):
        print("usage: python -m sample_app.demo_traffic http://APP:8000 RATE", file=sys.stderr)
        return 2
    rate = parse_rate(argv[1])
    url = argv[0].rstrip("/") + WEBHOOK_PATH
    print(f"demo traffic: {rate:g} webhooks a second to {url}", flush=True)
    run(url, rate, Settings().tenants)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
