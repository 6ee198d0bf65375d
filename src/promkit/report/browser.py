"""The Prometheus UI in a real browser: Debian's headless Chromium, driven by selenium.

The chromedriver path is always given to selenium, so selenium-manager never runs
and nothing downloads a browser. ``look`` is what a verification calls: the browser
check of verify.ui (the targets page renders, every expected job listed with its
targets UP) and, for ``--report``, a screenshot of each page that shows content.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from promkit.core import console
from promkit.core.errors import PromkitError
from promkit.core.settings import JobExpectation, ReportSettings
from promkit.report import evidence, ui_pages
from promkit.report.ui_pages import Flavour, PageSpec, Rendered
from promkit.verify.result import CheckResult, Verification

if TYPE_CHECKING:  # selenium loads only when a report or --browser asks for it
    from selenium.webdriver.chrome.webdriver import WebDriver

#: The window: tall enough that a graph page with its legend needs no resize (3.x: ~1030).
WINDOW = (1280, 1200)
#: The tallest a screenshot gets (a targets page of many pools is cut there).
MAX_HEIGHT = 4000
_POLL_S = 0.05
# Elements present before an in-app navigation are remembered (in the page, not in the
# DOM, which the app owns) and never count for the next page: only what its route rendered.
#: (texts of the fresh content elements, of the fresh alerts); none until a fresh owner
#: element shows the page's own text, in the same snapshot.
_TEXTS_JS = (
    "const seen = window.__promkitSeen || new WeakSet();"
    "const fresh = s => s ? Array.from(document.querySelectorAll(s))"
    ".filter(e => !seen.has(e)) : [];"
    "const texts = s => fresh(s).map(e => e.innerText.trim()).filter(t => t.length > 0);"
    "const [selector, alert, owner, own] = arguments;"
    "if (owner && !fresh(owner).some(e => e.innerText.replace(/\\s+/g, ' ').trim() === own))"
    " return [[], []];"
    "return [texts(selector), texts(alert)];"
)
#: Remember what is shown, then let the app's router render the next route, as its own
#: links do (history.pushState, then the popstate event its router listens to).
_NAVIGATE_JS = (
    "const seen = window.__promkitSeen = window.__promkitSeen || new WeakSet();"
    "for (const s of Array.from(arguments).slice(1))"
    " if (s) document.querySelectorAll(s).forEach(e => seen.add(e));"
    "history.pushState(null, '', arguments[0]);"
    "window.dispatchEvent(new PopStateEvent('popstate', {state: null}));"
)
_HEIGHTS_JS = (
    "return [document.documentElement.scrollHeight, window.innerHeight, window.outerHeight];"
)
_POOLS_JS = (
    "return Array.from(document.querySelectorAll(arguments[0])).map(p => {"
    " const l = p.querySelector(arguments[1]);"
    " return [l ? l.innerText.trim() : '', p.innerText]; });"
)
_INSTALL = "apt-get install chromium chromium-driver (Debian's packages)"


class BrowserMissing(PromkitError):
    """Chromium or its chromedriver is not installed (or does not start)."""


def require(report: ReportSettings) -> None:
    """A BrowserMissing naming what is missing and how to install it, unless both are there."""
    for path, key in ((report.chromium, "chromium"), (report.chromedriver, "chromedriver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise BrowserMissing(
                f"no headless Chromium for the UI: {path} not found: {_INSTALL}, "
                f"or set report.{key}"
            )


def _options(report: ReportSettings) -> Any:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = report.chromium
    # Content is waited for element by element: no need to wait for every image to load.
    options.page_load_strategy = "eager"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@contextmanager
def session(report: ReportSettings, headers: Mapping[str, str]) -> Iterator[WebDriver]:
    """A headless Chromium sending ``headers`` (the client's credentials) with every request."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    require(report)
    try:
        driver = webdriver.Chrome(
            service=Service(executable_path=report.chromedriver), options=_options(report)
        )
    except WebDriverException as exc:
        reason = " ".join(str(exc.msg or exc).split())[:200]
        raise BrowserMissing(f"headless Chromium did not start: {reason}: {_INSTALL}") from None
    try:
        driver.set_window_size(*WINDOW)  # what screenshot restores (the option's differs)
        if headers:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": dict(headers)})
        yield driver
    finally:
        driver.quit()


def ui_base(driver: WebDriver, url: str, payloads: Mapping[str, Any]) -> str:
    """Where the UI lives: the folder the landing page redirects to (/, or /classic/).

    The round's own fetch of the landing page says so when verify.ui ran; else the
    browser loads it.
    """
    landing = getattr(getattr(payloads.get("ui"), "root", None), "url", None)
    if not isinstance(landing, str):
        driver.get(url.rstrip("/") + "/")
        landing = driver.current_url
    return urljoin(landing, ".")


def console_errors(driver: WebDriver) -> tuple[str, ...]:
    """Severe console entries since the last call (the browser's own favicon request aside)."""
    entries = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return tuple(
        str(entry.get("message", ""))
        for entry in entries
        if entry.get("level") == "SEVERE" and "favicon.ico" not in str(entry.get("message"))
    )


def _shown(driver: WebDriver, spec: PageSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    own = " ".join(spec.own.split())
    found = driver.execute_script(_TEXTS_JS, spec.selector, spec.alert, spec.owner, own)
    texts, alerts = found
    return tuple(str(t) for t in texts), tuple(str(t) for t in alerts)


def _texts(
    driver: WebDriver, spec: PageSpec, timeout_s: float
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the texts of the spec's elements, of its alerts), once content or an alert shows."""
    deadline = time.monotonic() + timeout_s
    while True:
        texts, alerts = _shown(driver, spec)
        shown = texts and (not spec.expect or any(spec.expect in t for t in texts))
        if shown or alerts or time.monotonic() >= deadline:
            return texts, alerts
        time.sleep(_POLL_S)


def open_page(driver: WebDriver, base: str, url: str, spec: PageSpec, flavour: Flavour) -> None:
    """Show ``url``: inside the single-page app when it is already loaded, else a full load.

    Navigating inside the app spares parsing its whole script bundle again (about
    0.5 s a page for Prometheus 3's UI); what the previous route showed is remembered
    so that only the new route's elements count (see _TEXTS_JS).
    """
    if flavour.in_app and driver.current_url.startswith(base):
        driver.execute_script(_NAVIGATE_JS, url, spec.selector, spec.alert, spec.owner)
    else:
        driver.get(url)


def render(
    driver: WebDriver, base: str, spec: PageSpec, flavour: Flavour, timeout_s: float
) -> Rendered:
    """Show one page and wait (up to ``timeout_s``) until its elements show their text."""
    console_errors(driver)  # what earlier pages logged is theirs
    url = urljoin(base, spec.path)
    open_page(driver, base, url, spec, flavour)
    texts, alerts = _texts(driver, spec, timeout_s)
    pools: tuple[tuple[str, str], ...] = ()
    if spec.key == "targets":
        found = driver.execute_script(_POOLS_JS, flavour.pool, flavour.pool_label)
        pools = tuple((str(label), str(text)) for label, text in found)
    return Rendered(spec, url, texts, console_errors(driver), pools, alerts)


def screenshot(driver: WebDriver) -> bytes:
    """A PNG of the whole page (up to MAX_HEIGHT pixels tall); the window is WINDOW after.

    Only a page taller than the window's viewport resizes it (a resize lays the page out
    anew), by as much as the page overflows it.
    """
    height, viewport, window = driver.execute_script(_HEIGHTS_JS)
    if int(height) <= int(viewport):
        return _capture(driver)
    driver.set_window_size(WINDOW[0], min(int(height) + int(window) - int(viewport), MAX_HEIGHT))
    try:
        return _capture(driver)
    finally:
        driver.set_window_size(*WINDOW)


def _capture(driver: WebDriver) -> bytes:
    """A PNG of the window, encoded for speed (about twice as fast, a larger file)."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True}
    )
    return base64.b64decode(shot["data"])


@dataclass
class Looked:
    """What the browser added to a round: its check, its screenshots, what is missing."""

    results: list[CheckResult] = field(default_factory=list)
    screenshots: list[evidence.Screenshot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _keep(
    driver: WebDriver, page: Rendered, ok: bool, line: str, folder: Path
) -> evidence.Screenshot:
    relative = None
    if ok:
        png = screenshot(driver)
        relative = evidence.write_file(folder, f"{evidence.SCREENSHOTS}/{page.spec.key}.png", png)
    return evidence.Screenshot(page.spec.title, page.url, relative, ok, line)


def _browse(
    driver: WebDriver,
    outcome: Verification,
    jobs: Sequence[JobExpectation] | None,
    folder: Path | None,
    timeout_s: float,
) -> Looked:
    looked = Looked()
    flavour = ui_pages.flavour_for(outcome.version)
    base = ui_base(driver, outcome.url, outcome.payloads)
    for spec in ui_pages.pages_for(flavour, outcome.payloads, outcome.queries):
        if folder is None and spec.key != "targets":
            break
        page = render(driver, base, spec, flavour, timeout_s)
        if spec.key == "targets" and jobs is not None:
            looked.results.append(ui_pages.check_targets_page(page, flavour, jobs, timeout_s))
        if folder is not None:
            ok, line = ui_pages.judge_page(page, flavour, timeout_s)
            looked.screenshots.append(_keep(driver, page, ok, line, folder))
    return looked


def look(
    outcome: Verification,
    report: ReportSettings,
    headers: Mapping[str, str],
    *,
    jobs: Sequence[JobExpectation] | None,
    folder: Path | None,
) -> Looked:
    """The browser check (when ``jobs`` is given) and, with ``folder``, the screenshots.

    Without Chromium a report is still written: the note says what is missing (and
    stderr says it once); without a report folder, that is a BrowserMissing (exit 2).
    """
    try:
        with session(report, headers) as driver:
            return _browse(driver, outcome, jobs, folder, report.page_timeout)
    except BrowserMissing as exc:
        if folder is None:
            raise
        console.warn(f"promkit: {exc}; the report has no screenshots")
        return Looked(notes=[f"{exc}; this report has no screenshots and no browser check"])


def merged(outcome: Verification, looked: Looked) -> list[CheckResult]:
    """``outcome``'s results with the browser's check placed right after the ui check."""
    results = list(outcome.results)
    at = next((i + 1 for i, r in enumerate(results) if r.name == "ui"), len(results))
    return results[:at] + looked.results + results[at:]
