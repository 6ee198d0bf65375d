"""The evidence report: its page, its raw answers, its folder, and the JUnit links to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from promkit.report import evidence, formats
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import Answer, CheckResult, Verification

CONFIG = "global:\n  scrape_interval: 15s\n"
QUERY = DocumentedQuery("Error rate", 'sum(rate(x{s="<b>"}[5m]))', 42)
RESULTS = [
    CheckResult("runs", "AC1 Prometheus runs", True, ["Prometheus 3.16.0 up since ..."]),
    CheckResult("targets", "AC6 targets UP", False, ["target app/<script>alert(1)</script> DOWN"]),
    CheckResult("query: Error rate", "AC7 queries return data", True, ["1 series: {} 0.5"]),
    CheckResult("speed", "AC9 fast enough", True, ["a check this module never heard of"]),
]
PAYLOADS = {
    "buildinfo": {"version": "3.16.0"},
    "runtimeinfo": {"startTime": "2026-12-02T07:00:00Z"},
    "targets": {"activeTargets": [{"labels": {"job": "<script>alert(1)</script>"}}]},
    "config": CONFIG,
    "healthy": Answer("/-/healthy", "http://x/-/healthy", 200, 1.5, "text/plain", "Healthy."),
    "query:0": ({"resultType": "vector", "result": []}, None),
}
STARTED = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def outcome(results: list[CheckResult] = RESULTS) -> Verification:
    return Verification("http://x", "3.16.0", results, STARTED, PAYLOADS, (QUERY,))


class Parsed(HTMLParser):
    """Rows' ids, links, scripts and text of a page, parsed as a browser would."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.scripts += tag == "script"
        self.ids += [found["id"] or ""] if "id" in found else []
        self.links += [found[k] or "" for k in ("href", "src") if k in found]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_page_shows_the_server_every_check_and_links_what_each_judged(tmp_path: Path) -> None:
    page = evidence.report_round(tmp_path, outcome())
    parsed = Parsed(page.read_text())
    text = " ".join(parsed.text)
    assert page == tmp_path / "index.html"
    assert {"check-runs", "check-targets", "check-query-error-rate", "check-speed"} <= set(
        parsed.ids
    )
    assert "http://x" in text and "3.16.0" in text and "2026-12-02 07:00:00 UTC" in text
    import hashlib

    assert "sha256:" + hashlib.sha256(CONFIG.encode()).hexdigest() in text
    assert "3/4 checks pass; failing: targets" in text
    # Server values are text, never markup: the page runs no script at all.
    assert parsed.scripts == 0 and "target app/<script>alert(1)</script> DOWN" in text
    # Every link resolves inside DIR (readable offline), and each named answer exists.
    assert parsed.links and all(
        "://" not in link or link.startswith("http://x") for link in parsed.links
    )
    local = [link for link in parsed.links if "://" not in link]
    assert all((tmp_path / link).is_file() for link in local), local
    assert {"answers/buildinfo.json", "answers/targets.json", "answers/query-0.json"} <= set(local)


def test_raw_answers_are_what_the_checks_judged(tmp_path: Path) -> None:
    evidence.report_round(tmp_path, outcome())
    answers = tmp_path / "answers"
    assert (answers / "config.yaml").read_text() == CONFIG
    assert json.loads((answers / "targets.json").read_text()) == PAYLOADS["targets"]
    assert json.loads((answers / "healthy.json").read_text())["text"] == "Healthy."
    query = json.loads((answers / "query-0.json").read_text())
    assert query == {
        "query": "Error rate",
        "promql": QUERY.promql,
        "guide_line": 42,
        "data": {"resultType": "vector", "result": []},
    }


def test_each_check_links_only_the_answers_it_judged() -> None:
    files = ["buildinfo", "runtimeinfo", "targets", "config", "query:0"]
    assert evidence.judged_keys(RESULTS[0], files, [QUERY]) == ["buildinfo", "runtimeinfo"]
    assert evidence.judged_keys(RESULTS[2], files, [QUERY]) == ["query:0"]
    # A check added later (verify.speed, say) links every answer until it is mapped.
    assert evidence.judged_keys(RESULTS[3], files, [QUERY]) == files


def test_rule_checks_link_the_rules_and_each_selector_answer() -> None:
    files = ["runtimeinfo", "rules", "selector:0", "selector:1", "query:0"]
    selectors = CheckResult("rule selectors", "AC7 queries return data", True, [])
    watchdog = CheckResult("watchdog", "alerting works (Watchdog fires)", True, [])
    assert evidence.judged_keys(selectors, files, [QUERY]) == ["selector:0", "selector:1"]
    assert evidence.judged_keys(watchdog, files, [QUERY]) == ["rules"]


def test_a_failed_round_gets_its_logs_and_a_green_one_none(tmp_path: Path) -> None:
    asked: list[bool] = []

    def logs(found: Verification) -> dict[str, str]:
        asked.append(found.ok)
        return {"compose service app": "app | Traceback: <boom>\n"}

    evidence.report_round(tmp_path / "red", outcome(), failure_logs=logs)
    green = [r for r in RESULTS if r.ok]
    evidence.report_round(tmp_path / "green", outcome(green), failure_logs=logs)
    assert asked == [False]
    assert (tmp_path / "red/logs/compose-service-app.log").read_text().endswith("<boom>\n")
    assert "app | Traceback: <boom>" in " ".join(
        Parsed((tmp_path / "red/index.html").read_text()).text
    )
    assert not (tmp_path / "green/logs").exists()


def test_an_unwritable_folder_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(evidence.ReportDirError) as raised:
        evidence.prepare(blocker / "report")
    message = str(raised.value)
    assert "\n" not in message and str(blocker / "report") in message and "--report" in message
    assert raised.value.exit_code == 2


def test_junit_cases_link_their_row_relative_to_the_junit_file(tmp_path: Path) -> None:
    page = evidence.report_round(tmp_path / "evidence", outcome())
    junit = formats.write_junit(tmp_path / "ci/junit.xml", "http://x", "3.16.0", RESULTS, page=page)
    cases = ElementTree.parse(junit).getroot().findall("testcase")
    links = [case.find("properties/property[@name='report']").get("value") for case in cases]  # type: ignore[union-attr]
    assert links[1] == "../evidence/index.html#check-targets"
    for link, case in zip(links, cases, strict=True):
        path, fragment = link.split("#")
        assert (junit.parent / path).is_file()
        assert fragment in Parsed((junit.parent / path).read_text()).ids
        assert link in "".join(case.itertext())
