"""A loopback server answering like the recorded Prometheus 2.42 (tests/fixtures), for a
whole verification round: promkit's unit tests and the bench's serve figure.

    with serving({"*": recorded_answers()}) as server:
        rounds.run_round(rounds.NAMES, PrometheusClient(server.url), ...)
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from promkit.core.settings import DEFAULTS, repo_path
from promkit.verify.queries import load_guide
from tests.support.loopback import Answer, Route, Seen, answering

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus-2.42" / "green"
RULES = FIXTURES.parent / "rules-green"
GUIDE = repo_path(DEFAULTS["queries"]["guide"])
API = {
    "/api/v1/targets": "targets",
    "/api/v1/status/config": "config",
    "/api/v1/status/runtimeinfo": "runtimeinfo",
    "/api/v1/status/flags": "flags",
    "/api/v1/status/buildinfo": "buildinfo",
}


def recorded_answers(
    delay: float = 0.0,
    broken: str | None = None,
    seen: list[str] | None = None,
    peak: list[int] | None = None,
) -> Route:
    """Answers like the recorded 2.42 server (``broken``: that path answers 500); ``peak``
    gets the most requests it answered at once."""
    peak = peak if peak is not None else [0]
    seen = seen if seen is not None else []
    queries = {
        json.loads((FIXTURES / f"query-{i}.json").read_text())["name"]: i for i in range(1, 6)
    }
    guide = {q.promql: q.name for q in load_guide(GUIDE)}
    counts = {
        json.loads(path.read_text())["promql"]: json.loads(path.read_text())["answer"]
        for path in RULES.glob("selector-*.json")
    }
    lock = threading.Lock()
    in_flight = [0]

    def answer(request: Seen) -> Answer:
        with lock:
            seen.append(request.path)
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            time.sleep(delay)
            return recorded(request)
        finally:
            with lock:
                in_flight[0] -= 1

    def recorded(request: Seen) -> Answer:
        plain = urlsplit(request.path).path
        if plain == broken:
            return Answer(500, b"oops")
        if plain in ("/-/healthy", "/-/ready"):
            return Answer(200, b"Prometheus Server is Healthy.")
        if plain in API:
            return Answer(200, (FIXTURES / f"{API[plain]}.json").read_bytes())
        if plain == "/api/v1/rules":
            return Answer(200, evaluated_now((RULES / "rules.json").read_text()))
        if plain == "/api/v1/query":
            promql = parse_qs(urlsplit(request.path).query)["query"][0]
            if promql in counts:
                return Answer(200, json.dumps(counts[promql]).encode())
            index = queries[guide[promql]]
            recorded = json.loads((FIXTURES / f"query-{index}.json").read_text())["answer"]
            return Answer(200, json.dumps(recorded).encode())
        page = {"/": "root", "/classic/targets": "targets"}.get(plain)
        if plain == "/":
            return Answer(302, b"", {"Location": "/classic/graph"})
        if plain == "/classic/graph" or page:
            raw = json.loads((FIXTURES / f"ui-{page or 'root'}.json").read_text())
            return Answer(200, raw["text"].encode(), {"Content-Type": raw["content_type"]})
        if plain.startswith("/classic/static/"):
            return Answer(200, b"x" * 100, {"Content-Type": "text/javascript"})
        return Answer(404, b"404 page not found")

    return answering(answer)


def evaluated_now(rules_json: str) -> bytes:
    """The recorded rules answer (1s evaluations) as a 15s-interval server's, evaluated a
    second ago: the check reads the age, and a loaded machine may take seconds per round."""
    answer = json.loads(rules_json)
    now = datetime.now(UTC) - timedelta(seconds=1)
    for group in answer["data"]["groups"]:
        group["lastEvaluation"] = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        group["interval"] = 15
    return json.dumps(answer).encode()
