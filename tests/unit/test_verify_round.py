"""One verification round wired end to end over recorded answers (no server needed)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from promkit import prom, verify
from promkit.errors import ConfigError
from promkit.prom import HttpRequest, HttpResponse, PrometheusClient
from promkit.queries import load_guide
from promkit.settings import DEFAULTS, Expectations, JobExpectation, repo_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus-2.42" / "green"
GUIDE = repo_path(DEFAULTS["queries"]["guide"])
EXPECT = Expectations(jobs=(JobExpectation("fastapi-app"), JobExpectation("celery-workers")))
API = {
    "/api/v1/targets": "targets",
    "/api/v1/status/config": "config",
    "/api/v1/status/runtimeinfo": "runtimeinfo",
    "/api/v1/status/flags": "flags",
    "/api/v1/status/buildinfo": "buildinfo",
}


def recorded_server(
    delay: float = 0.0, broken: str | None = None
) -> tuple[PrometheusClient, list[str]]:
    """A client whose transport answers like the recorded 2.42 server."""
    queries = {
        json.loads((FIXTURES / f"query-{i}.json").read_text())["name"]: i for i in range(1, 6)
    }
    guide = {q.promql: q.name for q in load_guide(GUIDE)}
    seen: list[str] = []
    lock = threading.Lock()

    def transport(request: HttpRequest) -> HttpResponse:
        path = request.url.split("9090", 1)[1]
        with lock:
            seen.append(path)
        time.sleep(delay)
        plain = path.split("?")[0]
        if plain == broken:
            return HttpResponse(500, {}, b"oops")
        if plain in ("/-/healthy", "/-/ready"):
            return HttpResponse(200, {}, b"Prometheus Server is Healthy.")
        if plain in API:
            return HttpResponse(200, {}, (FIXTURES / f"{API[plain]}.json").read_bytes())
        if plain == "/api/v1/query":
            from urllib.parse import parse_qs, urlsplit

            promql = parse_qs(urlsplit(request.url).query)["query"][0]
            index = queries[guide[promql]]
            answer = json.loads((FIXTURES / f"query-{index}.json").read_text())["answer"]
            return HttpResponse(200, {}, json.dumps(answer).encode())
        page = {"/": "root", "/classic/targets": "targets"}.get(plain)
        if plain == "/":
            return HttpResponse(302, {"Location": "/classic/graph"}, b"")
        if plain == "/classic/graph" or page:
            raw = json.loads((FIXTURES / f"ui-{page or 'root'}.json").read_text())
            return HttpResponse(200, {"Content-Type": raw["content_type"]}, raw["text"].encode())
        if plain.startswith("/classic/static/"):
            return HttpResponse(200, {"Content-Type": "text/javascript"}, b"x" * 100)
        return HttpResponse(404, {}, b"404 page not found")

    return PrometheusClient("http://127.0.0.1:9090", transport=transport), seen


def test_all_checks_pass_on_the_recorded_green_server() -> None:
    client, seen = recorded_server()
    outcome = verify.run_round(verify.NAMES, client, EXPECT, GUIDE)
    assert outcome.ok, [r for r in outcome.results if not r.ok]
    assert outcome.version == "2.42.0+ds"
    assert [r.name for r in outcome.results] == [
        "runs",
        "health",
        "jobs",
        "targets",
        "interval",
        "retention",
        "ui",
        "query: p95 latency",
        "query: Error rate",
        "query: Queue depth",
        "query: Success rate by tenant",
        "query: Request rate",
    ]
    # Every endpoint is fetched once per round, however many checks read it.
    api_calls = [p for p in seen if p.startswith("/api/v1/status") or p == "/api/v1/targets"]
    assert sorted(api_calls) == sorted(API)


def test_fetches_run_concurrently() -> None:
    client, seen = recorded_server(delay=0.2)
    started = time.monotonic()
    verify.run_round(verify.NAMES, client, EXPECT, GUIDE)
    elapsed = time.monotonic() - started
    # 16 requests of 0.2s each (UI pages are sequential): far less than 3.2s serially.
    assert len(seen) >= 16 and elapsed < 1.6


def test_only_what_a_check_needs_is_fetched() -> None:
    client, seen = recorded_server()
    results = verify.run_checks(["retention"], client, EXPECT, None)
    assert [r.name for r in results] == ["retention"]
    assert sorted(seen) == [
        "/api/v1/status/buildinfo",
        "/api/v1/status/flags",
        "/api/v1/status/runtimeinfo",
    ]


def test_an_http_error_in_any_fetch_is_raised() -> None:
    client, _ = recorded_server(broken="/api/v1/status/flags")
    with pytest.raises(prom.HTTPFailure, match="HTTP 500 for /api/v1/status/flags"):
        verify.run_round(verify.NAMES, client, EXPECT, GUIDE)


def test_unknown_check_name_is_a_config_error() -> None:
    client, _ = recorded_server()
    with pytest.raises(ConfigError, match="unknown checks \\['speed'\\]"):
        verify.run_checks(["speed"], client, EXPECT, GUIDE)
