"""sample_app/exposition.prom is what the real app and worker expose: names and types.

`inv check.rules` looks up every metric a rule selects in that record; this test starts
redis-server, the app and the worker (tests/support/sample_app.py), has the worker
process one ticket so every family has samples, and compares both scrapes with it.
Run as a module, it prints a fresh record:
``python -m tests.integration.test_exposition > sample_app/exposition.prom``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from promkit.rules.lint import EXPOSITION, parse_exposition
from tests.support import request, wait_for
from tests.support.sample_app import ROOT, SampleStack

pytestmark = pytest.mark.integration

APP_LINE = "# --- sample_app/app.py (GET /metrics, port 8000)\n"
WORKER_LINE = "# --- sample_app/worker.py (WORKER_METRICS_PORT, 8001)\n"
HEADER = (ROOT / EXPOSITION).read_text().split(APP_LINE)[0]


def scrapes(stack: SampleStack) -> tuple[str, str]:
    """The app's and the worker's /metrics, once the worker has finished a ticket."""
    ticket = {"tenant_id": "acme", "ticket_id": "SD-1", "summary": "VPN drops hourly"}
    assert stack.post_ticket(ticket)[0] == 202
    wait_for(
        "the worker to finish the ticket",
        lambda: any(name == "enhancement_success_rate" for name, _ in stack.worker_metrics()),
        timeout=30,
    )
    app = request("GET", f"{stack.app_url}/metrics")[1]
    worker = request("GET", stack.worker_metrics_url)[1]
    return app, worker


def live_types(text: str) -> dict[str, str]:
    """Sample name -> family type, as prometheus_client's own parser reads ``text``."""
    return {
        sample.name: family.type
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[str, str]]:
    stack = SampleStack()
    try:
        stack.start_redis()
        stack.start_app()
        stack.start_worker()
        yield scrapes(stack)
    finally:
        print(stack.logs())
        stack.stop_all()


def test_the_record_names_exactly_the_live_metrics_with_their_types(
    live: tuple[str, str],
) -> None:
    recorded = parse_exposition((ROOT / EXPOSITION).read_text())
    exposed = {**live_types(live[0]), **live_types(live[1])}
    assert sorted(recorded) == sorted(exposed), f"re-record {EXPOSITION} (see its header)"
    assert recorded == exposed
    # The rules' own metrics are in there, as the sample names PromQL selects.
    for name in ("enhancement_requests_total", "enhancement_duration_seconds_bucket"):
        assert name in recorded


def test_the_record_parses_as_the_two_scrapes_it_holds(live: tuple[str, str]) -> None:
    text = (ROOT / EXPOSITION).read_text()
    app, _, worker = text.partition(WORKER_LINE)
    assert WORKER_LINE in text and live_types(app) and live_types(worker)
    assert parse_exposition(text) == {**live_types(app), **live_types(worker)}


def main() -> None:
    """Print a fresh record: the header, then a scrape of the app and of the worker."""
    stack = SampleStack()
    try:
        stack.start_redis()
        stack.start_app()
        stack.start_worker()
        app, worker = scrapes(stack)
    finally:
        stack.stop_all()
    print(HEADER + APP_LINE + app, end="")
    print(WORKER_LINE + worker, end="")


if __name__ == "__main__":
    main()
