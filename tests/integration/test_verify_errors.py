"""When promkit cannot do its job: exit 2 and one line naming the culprit, no traceback.

The HTTP 500 and non-JSON scenarios use a small real HTTP server on loopback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import Server, reply

pytestmark = pytest.mark.integration


@pytest.fixture
def answering() -> Iterator[Callable[[int, str, str], str]]:
    """Start a loopback server answering every GET with one status, type and body."""
    servers: list[Server] = []

    def start(status: int, content_type: str, body: str) -> str:
        route = reply(status, body.encode(), Content_Type=content_type)
        servers.append(Server({"*": route}).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


def one_clean_line(result: Any, it: Any) -> str:
    out = it.output(result)
    assert result.returncode == 2, out
    assert "Traceback" not in out
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, out
    return errors[0]


def test_url_unreachable(it: Any) -> None:
    url = f"http://127.0.0.1:{it.free_port()}"
    line = one_clean_line(it.inv("verify.all", "--url", url), it)
    assert line == (
        f"promkit: cannot reach Prometheus at {url}: connection refused; "
        "is it running? (inv status.local)"
    )


def test_http_500(answering: Callable[[int, str, str], str], it: Any) -> None:
    url = answering(500, "text/plain", "internal server error")
    line = one_clean_line(it.inv("verify.targets", "--url", url), it)
    assert line.startswith(f"promkit: Prometheus at {url} answered HTTP 500 for /api/v1/")
    assert "internal server error" in line


def test_non_json_answer(answering: Callable[[int, str, str], str], it: Any) -> None:
    url = answering(200, "text/html", "<!doctype html><title>Welcome to nginx!</title>")
    line = one_clean_line(it.inv("verify.retention", "--url", url), it)
    assert line.endswith("answered HTML, not the Prometheus API: is --url pointing at Prometheus?")
    assert url in line


def test_plain_text_answer(answering: Callable[[int, str, str], str], it: Any) -> None:
    url = answering(200, "text/plain", "pong")
    line = one_clean_line(it.inv("verify.interval", "--url", url), it)
    assert "answered something that is not the Prometheus API (HTTP 200, text/plain: pong)" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "localhost:9090"], "prometheus.url 'localhost:9090' is not an http(s) URL"),
        (["--url", "http://127.0.0.1:1", "--wait", "-5"], "--wait must be between 0 and 3600"),
    ],
)
def test_bad_input(args: list[str], message: str, it: Any) -> None:
    line = one_clean_line(it.inv("verify.health", *args), it)
    assert message in line


def test_bad_setting_from_the_environment(it: Any) -> None:
    env = it.env(INVOKE_EXPECT_RETENTION="a month")
    line = one_clean_line(it.inv("verify.retention", "--url", "http://127.0.0.1:1", env=env), it)
    assert "setting 'expect.retention': 'a month' is not a Prometheus duration" in line
