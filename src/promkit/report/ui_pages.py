"""Which UI pages the browser looks at, what proves each shows content, and the judging.

Pure: no browser here. promkit.report.browser renders the pages named by ``pages_for`` and
hands back ``Rendered`` observations; the functions below judge them. The selectors
depend on the UI the server's version ships: Prometheus 3's UI, or the classic UI
of Prometheus 2.x (Debian's package serves it under /classic/).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from promkit.core.settings import JobExpectation
from promkit.verify.checks import AC8
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import CheckResult

BROWSER_CHECK = "ui browser"
_COUNT = re.compile(r"\(?\s*(\d+)\s*/\s*(\d+)\s+up\s*\)?")


@dataclass(frozen=True)
class Flavour:
    """The selectors of one generation of Prometheus' UI."""

    name: str
    #: One scrape pool's panel on the targets page, and the element naming the pool in it.
    pool: str
    pool_label: str
    #: The graph page of an expression ({expr}), relative to the UI's base, and what a
    #: drawn graph shows (its legend's series labels).
    graph_path: str
    graph_drawn: str
    #: What a graph page shows instead when the query fails or returns nothing.
    graph_alert: str
    #: (part of a browser console error, why it is harmless): reported, not failed.
    tolerated: tuple[tuple[str, str], ...] = ()
    #: A single-page app: after the first page, the browser navigates inside it (its
    #: router renders the next route) instead of loading the whole UI again.
    in_app: bool = False
    #: The element showing a graph page's expression: its text must be this page's query
    #: before the legend counts (after in-app navigation, the previous query's may linger).
    graph_expr: str = ""


_DEBIAN_POPPER = (
    "Debian's prometheus 2.x ships popper.js as an ES module, which its classic UI loads as "
    "a plain script: only tooltips are lost"
)
MANTINE = Flavour(
    name="Prometheus 3 UI",
    pool=".mantine-Accordion-item",
    pool_label=".mantine-Accordion-label p",
    graph_path="query?g0.expr={expr}&g0.tab=graph&g0.range_input=15m",
    graph_drawn=".uplot .u-legend .u-label",
    graph_alert='[role="alert"]',
    in_app=True,
    graph_expr=".cm-content",
)
CLASSIC = Flavour(
    name="classic UI of Prometheus 2.x",
    pool="h2.job_header",
    pool_label="a",
    graph_path="graph?g0.expr={expr}&g0.tab=0&g0.range_input=15m",
    graph_drawn=".graph_wrapper .rickshaw_legend .label",
    graph_alert=".graph_wrapper .alert",
    tolerated=(
        ("popper.min.js", _DEBIAN_POPPER),
        ("Bootstrap's tooltips require Popper", _DEBIAN_POPPER),
    ),
)


def flavour_for(version: str) -> Flavour:
    """The UI a server of ``version`` (buildinfo's) serves: 2.x classic, else Prometheus 3's."""
    match = re.match(r"v?(\d+)\.", version)
    return CLASSIC if match and int(match.group(1)) < 3 else MANTINE


@dataclass(frozen=True)
class PageSpec:
    """One page to look at: where, and which elements' text proves it shows content."""

    key: str
    title: str
    #: Relative to the UI's base (where / lands: / on 3.x, /classic/ on Debian's 2.x).
    path: str
    selector: str
    #: Text one of those elements must contain ("" for any text at all).
    expect: str = ""
    #: Elements shown instead of the content (an error, "no data"): no use waiting longer.
    alert: str = ""
    #: An element proving the content is this page's (its text must be ``own``, whitespace
    #: aside): the graph page's expression editor showing its query ("" for none).
    owner: str = ""
    own: str = ""


def pages_for(
    flavour: Flavour, payloads: Mapping[str, Any], queries: Sequence[DocumentedQuery]
) -> list[PageSpec]:
    """The targets, runtime info and flags pages, and the graph page of each documented query."""
    build = payloads.get("buildinfo")
    flags = payloads.get("flags")
    version = str(build.get("version") or "") if isinstance(build, Mapping) else ""
    config_file = str(flags.get("config.file") or "") if isinstance(flags, Mapping) else ""
    pages = [
        PageSpec("targets", "Targets", "targets", flavour.pool_label),
        PageSpec("status", "Runtime & build information", "status", "table td", version),
        PageSpec("flags", "Command-line flags", "flags", "table td", config_file),
    ]
    for index, query in enumerate(queries):
        path = flavour.graph_path.format(expr=quote(query.promql, safe=""))
        title = f"Graph: {query.name}"
        drawn, alert = flavour.graph_drawn, flavour.graph_alert
        own = query.promql if flavour.graph_expr else ""
        spec = PageSpec(f"graph-{index}", title, path, drawn, "", alert, flavour.graph_expr, own)
        pages.append(spec)
    return pages


@dataclass(frozen=True)
class Rendered:
    """What the browser showed of one page."""

    spec: PageSpec
    url: str
    #: The text of each element matching the spec's selector, once rendered (or at the timeout).
    texts: tuple[str, ...]
    #: Severe browser console entries: uncaught errors, resources that failed to load.
    errors: tuple[str, ...] = ()
    #: On the targets page: (pool label, the pool panel's whole text) per scrape pool.
    pools: tuple[tuple[str, str], ...] = ()
    #: The text of the spec's alert elements (what the page said instead).
    alerts: tuple[str, ...] = ()


def page_errors(errors: Sequence[str], flavour: Flavour) -> tuple[list[str], list[str]]:
    """(errors that count, lines naming the tolerated ones and why they are harmless)."""
    counted, tolerated = [], []
    for error in errors:
        why = next((why for part, why in flavour.tolerated if part in error), None)
        if why is None:
            counted.append(error)
        else:
            tolerated.append(f"tolerated page error ({why}): {error[:160]}")
    return counted, tolerated


def judge_page(page: Rendered, flavour: Flavour, timeout_s: float) -> tuple[bool, str]:
    """Whether a page shows content worth keeping as a screenshot, and the line saying so."""
    counted, _ = page_errors(page.errors, flavour)
    where = f"{page.spec.title} ({page.url})"
    if not page.texts and page.alerts:
        return False, f"{where} shows no content but: {' '.join(page.alerts[0].split())[:160]}"
    if not page.texts:
        return False, (
            f"{where} showed no '{page.spec.selector}' within {timeout_s:g}s: a blank or error "
            f"page{': ' + counted[0][:160] if counted else ''}"
        )
    if page.spec.expect and not any(page.spec.expect in text for text in page.texts):
        return False, f"{where} does not show {page.spec.expect!r}"
    if counted:
        return False, f"{where} rendered with a page error: {counted[0][:200]}"
    proof = next((t for t in page.texts if page.spec.expect in t), page.texts[0])
    shown = " ".join(proof.split())[:80]
    return True, f"{where} shows {shown!r} ({len(page.texts)} x '{page.spec.selector}')"


def listed_pools(page: Rendered) -> dict[str, tuple[int, int]]:
    """Pool name -> (targets up, targets) as the targets page lists them."""
    found = {}
    for label, text in page.pools:
        counts = _COUNT.search(label) or _COUNT.search(text)
        name = _COUNT.sub("", label).strip()
        if name and counts:
            found[name] = (int(counts.group(1)), int(counts.group(2)))
    return found


def _job_line(job: JobExpectation, pools: Mapping[str, tuple[int, int]]) -> tuple[bool, str]:
    if job.job not in pools:
        listed = ", ".join(sorted(pools)) or "none"
        return False, f"job {job.job} is not listed on the targets page (listed: {listed})"
    up, total = pools[job.job]
    wanted = job.exact if job.exact is not None else job.minimum
    if (job.exact is not None and total != job.exact) or total < job.minimum:
        return False, f"job {job.job} lists {total} targets, expected {wanted}"
    if up != total:
        return False, f"job {job.job} shows {up}/{total} targets UP on the targets page"
    return True, f"job {job.job} listed with {up}/{total} targets UP"


def check_targets_page(
    page: Rendered, flavour: Flavour, jobs: Sequence[JobExpectation], timeout_s: float
) -> CheckResult:
    """The targets page renders in a real browser, error-free, every expected job's targets UP."""
    rendered, line = judge_page(page, flavour, timeout_s)
    counted, tolerated = page_errors(page.errors, flavour)
    if not page.texts:
        return CheckResult(BROWSER_CHECK, AC8, False, [line])
    lines = [_job_line(job, listed_pools(page)) for job in jobs]
    lines += [(False, f"page error on {page.url}: {error[:200]}") for error in counted]
    ok = rendered and all(ok for ok, _ in lines) and bool(jobs)
    head = f"{flavour.name}: targets page {page.url} rendered in headless Chromium"
    evidence = [head] + [text for _, text in lines] + tolerated
    if not jobs:
        evidence.append("no jobs are expected: set expect.jobs")
    return CheckResult(BROWSER_CHECK, AC8, ok, evidence)
