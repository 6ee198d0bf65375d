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

from promkit.core.settings import DEFAULTS, ReportSettings
from promkit.report import browser, ui_pages
from promkit.report.ui_pages import PageSpec

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


def test_report_holds_every_check_and_the_answers_it_judged(
    fast: Any, it: Any, tmp_path: Path
) -> None:
    folder, junit = tmp_path / "evidence", tmp_path / "junit.xml"
    args = ("--url", fast.url, "--report", str(folder), "--junit", str(junit))
    done = it.inv("verify.targets", *args)
    assert done.returncode == 1, it.output(done)  # job "gone" is DOWN
    assert f"HTML report: {folder / 'index.html'}" in done.stdout
    page = Page(folder / "index.html")
    text = " ".join(page.text)
    version = fast.api("/api/v1/status/buildinfo")["version"]
    assert fast.url in text and version in text and "sha256:" in text
    assert {"check-jobs", "check-targets"} <= page.ids
    assert "1/2 checks pass; failing: targets" in text and "target gone/" in text
    targets = json.loads((folder / "answers/targets.json").read_text())
    health = {t["labels"]["job"]: t["health"] for t in targets["activeTargets"]}
    assert health == {"fastapi-app": "up", "celery-workers": "up", "gone": "down"}
    config = (folder / "answers/config.yaml").read_text()
    assert config == fast.api("/api/v1/status/config")["yaml"]
    local = [link for link in page.links if "://" not in link]
    assert "answers/targets.json" in local and all((folder / link).is_file() for link in local)
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        link = case.find("properties/property[@name='report']")
        assert link is not None and link.get("value", "").startswith("evidence/index.html#check-")


def test_unwritable_report_folder_is_exit_2_and_one_line(
    fast: Any, it: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    done = it.inv("verify.health", "--url", fast.url, "--report", str(blocker / "report"))
    assert done.returncode == 2, it.output(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocker / "report") in lines[0], done.stderr
    assert "Traceback" not in it.output(done) and "CHECK" not in done.stdout


GUIDE = """# Guide

## Sample PromQL queries

### App is scraped

```promql
up{job="fastapi-app"}
```

### Workers are scraped

```promql
up{job="celery-workers"}
```

### Nothing recorded

```promql
promkit_never_recorded_total
```
"""


@pytest.fixture(scope="module")
def fast(module_processes: Any, prometheus_bin: str, it: Any) -> Any:
    """Scraped every second, one job DOWN: the browser must see it as the API does."""
    app, worker = module_processes.exporter("app"), module_processes.exporter("worker")
    dead = f"127.0.0.1:{it.free_port()}"
    jobs = [it.job("fastapi-app", app.address), it.job("celery-workers", worker.address)]
    server = module_processes.prometheus(
        prometheus_bin, it.config(*jobs, it.job("gone", dead), scrape="1s"), scraped=True
    )
    server.wait_scraped(scrapes=3)
    return server


def _captions(folder: Path) -> dict[str, str]:
    """Screenshot file (or title, if none was kept) -> its caption's text."""
    text = (folder / "index.html").read_text()
    figures = text.split("<figure>")[1:]
    found = {}
    for figure in figures:
        image = figure.split('src="')[1].split('"')[0] if "<img" in figure else ""
        caption = figure.split("<figcaption>")[1].split("</figcaption>")[0]
        found[image or caption.split(" (")[0]] = caption
    return found


@pytest.fixture(scope="module")
def all_report(fast: Any, it: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``inv verify.all --report DIR`` with the guide above: DIR."""
    where = tmp_path_factory.mktemp("all-report")
    guide = where / "guide.md"
    guide.write_text(GUIDE)
    folder = where / "report"
    # selenium-manager pointed at a program that fails: it must never be needed.
    env = it.env(INVOKE_QUERIES_GUIDE=str(guide), SE_MANAGER_PATH="/bin/false")
    done = it.inv("verify.all", "--url", fast.url, "--report", str(folder), env=env)
    assert done.returncode == 1, it.output(done)  # the interval is 1s, and job "gone" is DOWN
    return folder


def test_report_screenshots_each_page_that_shows_content(fast: Any, all_report: Path) -> None:
    version = fast.api("/api/v1/status/buildinfo")["version"]
    captions = _captions(all_report)
    for shot in ("targets", "status", "flags", "graph-0", "graph-1"):
        caption = captions[f"screenshots/{shot}.png"]
        assert '<span class="PASS">' in caption, caption
        png = (all_report / f"screenshots/{shot}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert version in captions["screenshots/status.png"]
    # A graph with no data is not kept as evidence of anything.
    empty = captions["Graph: Nothing recorded"]
    assert '<span class="FAIL">' in empty and not (all_report / "screenshots/graph-2.png").exists()


def test_each_graph_page_shows_its_own_query_not_the_one_before(all_report: Path) -> None:
    captions = _captions(all_report)
    # What the caption quotes is the legend the page showed (the URL names its query too).
    app = captions["screenshots/graph-0.png"].split(" shows ", 1)[1]
    workers = captions["screenshots/graph-1.png"].split(" shows ", 1)[1]
    assert "up{" in app and "fastapi-app" in app and "celery-workers" not in app, app
    assert "up{" in workers and "celery-workers" in workers and "fastapi-app" not in workers, (
        workers
    )


def test_a_page_shows_its_own_elements_not_those_the_page_before_left(fast: Any) -> None:
    """On 3.x the second page is reached inside the app, whose router renders it later."""
    version = fast.api("/api/v1/status/buildinfo")["version"]
    flavour = ui_pages.flavour_for(version)
    paths = DEFAULTS["report"]
    report = ReportSettings(str(paths["chromium"]), str(paths["chromedriver"]), 15, 50)
    status, flags = (PageSpec(key, key, key, "table td") for key in ("status", "flags"))
    with browser.session(report, {}) as driver:
        base = browser.ui_base(driver, fast.url, {})
        first = browser.render(driver, base, status, flavour, 15)
        second = browser.render(driver, base, flags, flavour, 15)
    assert any(version in text for text in first.texts), first.texts
    config_file = fast.api("/api/v1/status/flags")["config.file"]
    assert any(config_file in text for text in second.texts), second.texts
    assert not any(version in text for text in second.texts), second.texts


def test_browser_check_sees_every_job_and_names_the_down_one(
    fast: Any, it: Any, tmp_path: Path
) -> None:
    settings = tmp_path / "expect.yaml"
    settings.write_text("expect:\n  jobs: {fastapi-app: 1, celery-workers: 1, gone: 1}\n")
    done = it.inv("-f", str(settings), "verify.ui", "--url", fast.url, "--browser")
    out = it.output(done)
    assert done.returncode == 1, out
    row = out.split("ui browser", 1)[1]
    assert "FAIL" in row.splitlines()[0], out
    assert "job fastapi-app listed with 1/1 targets UP" in row
    assert "job celery-workers listed with 1/1 targets UP" in row
    assert "job gone shows 0/1 targets UP on the targets page" in row
    green = tmp_path / "green.yaml"
    green.write_text("expect:\n  jobs: {fastapi-app: 1, celery-workers: 1}\n")
    done = it.inv("-f", str(green), "verify.ui", "--url", fast.url, "--browser")
    assert done.returncode == 0, it.output(done)
    assert "ui browser" in done.stdout and "all 2 checks pass" in done.stdout


def test_without_chromium_the_report_is_written_and_one_line_says_so(
    fast: Any, it: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "report"
    env = it.env(INVOKE_REPORT_CHROMEDRIVER=str(tmp_path / "no-chromedriver"))
    done = it.inv("verify.ui", "--url", fast.url, "--report", str(folder), env=env)
    assert done.returncode == 0, it.output(done)
    said = [line for line in done.stderr.splitlines() if "no-chromedriver" in line]
    assert len(said) == 1 and "apt-get install chromium chromium-driver" in said[0], done.stderr
    page = (folder / "index.html").read_text()
    assert "no-chromedriver" in page and "check-ui" in page
    assert not (folder / "screenshots").exists()
    # Asked for explicitly, the browser check without a browser is exit 2 and one line.
    done = it.inv("verify.ui", "--url", fast.url, "--browser", env=env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, it.output(done)
    assert "no-chromedriver" in done.stderr and "Traceback" not in done.stderr
