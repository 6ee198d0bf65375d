"""promkit.traffic and `inv traffic` against a real tiny HTTP server on loopback (loopback.py)."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit

from promkit.core.errors import ConfigError, PromkitError
from promkit.core.settings import DEFAULTS
from promkit.local.traffic import TrafficSummary, post_webhooks, ticket
from promkit.tasks.traffic import traffic
from tests.support.loopback import Route, Seen, Server, reply, serving, slow
from tests.support.ports import free_port

SLUG = re.compile(r"^[a-z0-9-]{1,64}$")


def webhook(status: int | None = None) -> Route:
    """Answers like the sample app: 202 valid, 422 invalid (or always ``status``)."""

    def route(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        body = json.loads(seen.body)
        valid = SLUG.match(body.get("tenant_id", "")) and seen.headers["content-type"] == (
            "application/json"
        )
        reply(status or (202 if valid else 422), json.dumps({"task_id": "t"}).encode())(h, seen)

    return route


def bodies(server: Server) -> list[dict[str, Any]]:
    """The webhooks the app got, in order."""
    return [json.loads(seen.body) for seen in server.seen]


@pytest.fixture
def app() -> Iterator[Server]:
    with serving({"*": webhook()}) as server:
        yield server


def context() -> Context:
    config = Config()
    config.load_collection(copy.deepcopy(DEFAULTS))
    return Context(config)


def test_counts_statuses_and_rotates_tenants(app: Server) -> None:
    summary = post_webhooks(app.url, count=12, duration_s=10, invalid_every=4)
    assert dict(summary.by_status) == {202: 9, 422: 3}
    assert summary.sent == 12 and summary.accepted == 9 and summary.failed == 0
    assert {(seen.method, seen.path) for seen in app.seen} == {("POST", "/webhook/servicedesk")}
    valid = [body["tenant_id"] for body in bodies(app) if SLUG.match(body["tenant_id"])]
    assert valid.count("acme") == 3 and valid.count("globex") == 3 and valid.count("initech") == 3
    assert [body["ticket_id"] for body in bodies(app)] == [f"PK-{n}" for n in range(1, 13)]
    assert summary.line().startswith(f"sent 12 webhooks to {app.url}/webhook/servicedesk in ")
    assert summary.line().endswith(": 9x202, 3x422")


def test_stops_at_the_deadline_before_the_count() -> None:
    with serving({"*": slow(0.05, webhook())}) as server:
        started = time.monotonic()
        summary = post_webhooks(server.url, count=10_000, duration_s=0.5)
        elapsed = time.monotonic() - started
        assert 3 <= summary.sent < 50
        assert elapsed < 0.5 + 2.0  # at most one request timeout past the deadline
        assert summary.elapsed_s == pytest.approx(elapsed, abs=0.05)


def test_counts_error_statuses_as_they_come() -> None:
    with serving({"*": webhook(503)}) as server:
        summary = post_webhooks(server.url, count=3, duration_s=5)
        assert dict(summary.by_status) == {503: 3} and summary.accepted == 0


def test_unreachable_app_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PromkitError, match=rf"^the sample app at {url} gave no answer .*refused"):
        post_webhooks(url, count=5, duration_s=5)


def test_first_request_timing_out_is_one_clear_error() -> None:
    with serving({"*": slow(1.0, webhook())}) as server:
        started = time.monotonic()
        with pytest.raises(PromkitError, match=r"gave no answer .*timed out"):
            post_webhooks(server.url, count=5, duration_s=5, timeout=0.2)
        assert time.monotonic() - started < 1.0


def test_later_requests_without_answer_are_counted_not_raised() -> None:
    answer = webhook()
    calls: list[Seen] = []

    def stalls_after_two(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        calls.append(seen)
        (answer if len(calls) <= 2 else slow(1.0, answer))(h, seen)

    with serving({"*": stalls_after_two}) as server:
        summary = post_webhooks(server.url, count=4, duration_s=5, timeout=0.2)
    assert dict(summary.by_status) == {202: 2} and summary.failed == 2
    assert summary.line().endswith(": 2x202, 2 without answer")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "count must be a whole number from 1 to 10000, got 0"),
        ({"count": 10_001}, "count must be a whole number from 1 to 10000"),
        ({"count": 2.5}, "count must be a whole number"),
        ({"count": True}, "count must be a whole number"),
        ({"duration_s": 0}, "duration must be more than 0 and at most 600 seconds, got 0"),
        ({"duration_s": -1.0}, "duration must be more than 0"),
        ({"duration_s": 600.5}, "at most 600 seconds"),
        ({"duration_s": "10"}, "duration must be a number of seconds"),
        ({"tenants": ()}, "needs a list of tenants"),
        ({"tenants": "acme"}, "needs a list of tenants"),
        ({"tenants": ("acme", "Bad Tenant")}, r"tenant ids must match .*'Bad Tenant'"),
        ({"invalid_every": -1}, "invalid_every must be 0"),
        ({"timeout": 0}, "timeout must be more than 0"),
    ],
)
def test_rejects_bad_arguments_before_sending(
    app: Server, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"count": 5, "duration_s": 5.0, **kwargs}
    with pytest.raises(ConfigError, match=message):
        post_webhooks(app.url, **arguments)
    assert app.seen == []


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://127.0.0.1/", "http://", ""])
def test_rejects_a_url_that_is_not_http(url: str) -> None:
    with pytest.raises(ConfigError, match="is not an http"):
        post_webhooks(url, count=1, duration_s=1)


def test_invalid_every_marks_exactly_every_nth_ticket() -> None:
    bodies = [ticket(i, ("acme",), 3) for i in range(9)]
    assert [SLUG.match(b["tenant_id"]) is None for b in bodies] == [False, False, True] * 3
    assert all(SLUG.match(ticket(i, ("acme",), 0)["tenant_id"]) for i in range(9))


def test_summary_line_reports_requests_without_answer() -> None:
    summary = TrafficSummary("http://x/webhook/servicedesk", {202: 2}, failed=1, elapsed_s=1.25)
    assert summary.sent == 3
    assert summary.line() == (
        "sent 3 webhooks to http://x/webhook/servicedesk in 1.2s: 2x202, 1 without answer"
    )


def test_task_prints_one_line_and_uses_settings(
    app: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    c = context()
    c.config.compose.app_url = app.url
    c.config.traffic.count = 7
    traffic(c)
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"sent 7 webhooks to {app.url}/webhook/servicedesk")
    assert out.endswith(": 7x202") and len(out.splitlines()) == 1
    assert "acme" in {body["tenant_id"] for body in bodies(app)}


def test_task_flags_override_settings(app: Server, capsys: pytest.CaptureFixture[str]) -> None:
    traffic(context(), count="3", duration="5", url=app.url)
    assert "sent 3 webhooks" in capsys.readouterr().out
    assert len(app.seen) == 3


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"count": "many"}, "promkit: traffic count must be a whole number, got 'many'"),
        ({"count": "0"}, "promkit: traffic count must be a whole number from 1 to 10000, got 0"),
        ({"duration": "soon"}, "promkit: traffic duration must be a number of seconds"),
        ({"url": "localhost"}, "promkit: app url 'localhost' is not an http(s) URL"),
    ],
)
def test_task_bad_flags_exit_2_with_one_line(flags: dict[str, str], message: str) -> None:
    with pytest.raises(Exit) as raised:
        traffic(context(), **flags)
    assert raised.value.code == 2
    assert str(raised.value.message).startswith(message)
    assert "\n" not in str(raised.value.message)


def test_task_fails_when_the_app_queues_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with serving({"*": webhook(503)}) as server:
        with pytest.raises(Exit) as raised:
            traffic(context(), count="2", url=server.url)
        assert raised.value.code == 2
        assert "queued none of the webhooks" in str(raised.value.message)
        assert "2x503" in str(raised.value.message)
        assert "sent 2 webhooks" in capsys.readouterr().out


def test_task_unreachable_app_exits_2() -> None:
    with pytest.raises(Exit) as raised:
        traffic(context(), count="2", url=f"http://127.0.0.1:{free_port()}")
    assert raised.value.code == 2
    assert "gave no answer" in str(raised.value.message)
