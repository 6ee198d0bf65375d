"""Reports: the table people read, the JSON scripts read, the JUnit XML CI reads."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from promkit.core.errors import PromkitError
from promkit.report import formats
from promkit.verify.result import CheckResult

RESULTS = [
    CheckResult("health", "AC5 health/ready", True, ["/-/healthy 200 in 1.0ms", "/-/ready 200"]),
    CheckResult(
        "targets",
        "AC6 targets UP, no errors, fast",
        False,
        [
            "target celery-workers/worker:8001 is DOWN: connection refused (last scrape 3s ago)",
            "fastapi-app app:8000 up 4.1ms",
        ],
    ),
]
URL, VERSION = "http://127.0.0.1:9090", "2.42.0"


def test_table_has_one_row_per_check_and_evidence_beneath() -> None:
    lines = formats.table(RESULTS).splitlines()
    assert lines[0].split() == ["CHECK", "ACCEPTANCE", "RESULT", "EVIDENCE"]
    assert lines[2].split()[:3] == ["health", "AC5", "health/ready"]
    assert "PASS" in lines[2] and lines[2].endswith("/-/healthy 200 in 1.0ms")
    assert lines[3].strip() == "/-/ready 200"
    assert "FAIL" in lines[4] and "is DOWN: connection refused" in lines[4]
    assert lines[5].strip() == "fastapi-app app:8000 up 4.1ms"
    # Evidence starts in the same column on every line.
    column = lines[2].index("/-/healthy")
    assert lines[3].index("/-/ready") == column and lines[5].index("fastapi-app") == column
    assert lines[-1] == "1/2 checks pass; failing: targets"


def test_summary_when_everything_passes() -> None:
    assert formats.summary_line(RESULTS[:1]) == "all 1 checks pass"


def test_json_report(tmp_path: Path) -> None:
    path = formats.write_json(tmp_path / "out" / "verify.json", URL, VERSION, RESULTS)
    data = json.loads(path.read_text())
    assert data["prometheus"] == {"url": URL, "version": VERSION}
    assert data["summary"] == {"ok": False, "total": 2, "passed": 1, "failed": ["targets"]}
    assert data["results"][1] == {
        "name": "targets",
        "criterion": "AC6 targets UP, no errors, fast",
        "ok": False,
        "evidence": RESULTS[1].evidence,
    }


def test_junit_report_one_testcase_per_check(tmp_path: Path) -> None:
    path = formats.write_junit(tmp_path / "junit.xml", URL, VERSION, RESULTS)
    suite = ElementTree.parse(path).getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "health (AC5 health/ready)",
        "targets (AC6 targets UP, no errors, fast)",
    ]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == RESULTS[1].evidence[0]
    assert failure.text == "\n".join(RESULTS[1].evidence)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"prometheus.url": URL, "prometheus.version": VERSION}


def test_unwritable_report_is_a_clean_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PromkitError, match=f"cannot write the report {blocker}/r.json"):
        formats.write_json(blocker / "r.json", URL, VERSION, RESULTS)
