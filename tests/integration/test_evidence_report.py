"""``--report DIR`` against a real Prometheus (2.x, and 3.x with its UI when configured).

The page, its raw answers and the JUnit links are read back from the files written.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

pytestmark = pytest.mark.integration


class Page(HTMLParser):
    """The ids, local links and text of the report page."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []
        self.feed(path.read_text())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.ids |= {found["id"] or ""} if "id" in found else set()
        self.links += [found[k] or "" for k in ("href", "src") if k in found]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def server(module_processes: Any, prometheus_bin: str, it: Any) -> Any:
    app, worker = module_processes.exporter("app"), module_processes.exporter("worker")
    return module_processes.prometheus(
        prometheus_bin,
        it.config(it.job("fastapi-app", app.address), it.job("celery-workers", worker.address)),
        flags=["--storage.tsdb.retention.time=30d"],
        scraped=True,
    )


def test_report_holds_every_check_and_the_answers_it_judged(
    server: Any, it: Any, tmp_path: Path
) -> None:
    folder, junit = tmp_path / "evidence", tmp_path / "junit.xml"
    done = it.inv(
        "verify.targets", "--url", server.url, "--report", str(folder), "--junit", str(junit)
    )
    assert done.returncode == 0, it.output(done)
    assert f"HTML report: {folder / 'index.html'}" in done.stdout
    page = Page(folder / "index.html")
    text = " ".join(page.text)
    version = server.api("/api/v1/status/buildinfo")["version"]
    assert server.url in text and version in text and "sha256:" in text
    assert {"check-jobs", "check-targets"} <= page.ids
    targets = json.loads((folder / "answers/targets.json").read_text())
    jobs = {t["labels"]["job"] for t in targets["activeTargets"]}
    assert jobs == {"fastapi-app", "celery-workers"}
    config = (folder / "answers/config.yaml").read_text()
    assert config == server.api("/api/v1/status/config")["yaml"]
    local = [link for link in page.links if "://" not in link]
    assert "answers/targets.json" in local and all((folder / link).is_file() for link in local)
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        link = case.find("properties/property[@name='report']")
        assert link is not None and link.get("value", "").startswith("evidence/index.html#check-")


def test_unwritable_report_folder_is_exit_2_and_one_line(
    server: Any, it: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    done = it.inv("verify.health", "--url", server.url, "--report", str(blocker / "report"))
    assert done.returncode == 2, it.output(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocker / "report") in lines[0], done.stderr
    assert "Traceback" not in it.output(done) and "CHECK" not in done.stdout
