"""Judging what the browser showed: pages with content, the targets page per UI generation."""

from __future__ import annotations

from promkit.core.settings import JobExpectation
from promkit.report import ui_pages
from promkit.report.ui_pages import CLASSIC, MANTINE, PageSpec, Rendered
from promkit.verify.queries import DocumentedQuery

TARGETS = PageSpec("targets", "Targets", "targets", "p")
JOBS = [JobExpectation("fastapi-app", 1), JobExpectation("celery-workers", 1)]
POPPER = "http://x/classic/static/popper.js/popper.min.js 0:36253 Uncaught SyntaxError: export"


def targets_page(pools: tuple[tuple[str, str], ...], errors: tuple[str, ...] = ()) -> Rendered:
    return Rendered(TARGETS, "http://x/targets", tuple(p[0] for p in pools), errors, pools)


def test_the_version_chooses_the_ui() -> None:
    assert ui_pages.flavour_for("2.42.0+ds") is CLASSIC
    assert ui_pages.flavour_for("3.16.0") is MANTINE
    assert ui_pages.flavour_for("unknown (unstamped build)") is MANTINE


def test_pages_expect_what_the_api_said() -> None:
    payloads = {"buildinfo": {"version": "3.16.0"}, "flags": {"config.file": "/etc/p.yml"}}
    query = DocumentedQuery("Rate", 'sum(rate(x{a="b"}[5m]))', 3)
    pages = {p.key: p for p in ui_pages.pages_for(MANTINE, payloads, [query])}
    assert pages["status"].expect == "3.16.0" and pages["flags"].expect == "/etc/p.yml"
    assert pages["graph-0"].path.startswith("query?g0.expr=sum%28rate%28x%7Ba%3D%22b%22")
    assert "&g0.tab=graph" in pages["graph-0"].path and pages["graph-0"].alert


def test_graph_pages_of_the_single_page_ui_must_show_their_own_query() -> None:
    query = DocumentedQuery("Up", 'up{job="a"}', 3)
    mantine = {p.key: p for p in ui_pages.pages_for(MANTINE, {}, [query])}["graph-0"]
    classic = {p.key: p for p in ui_pages.pages_for(CLASSIC, {}, [query])}["graph-0"]
    assert MANTINE.in_app and (mantine.owner, mantine.own) == (".cm-content", 'up{job="a"}')
    assert not CLASSIC.in_app and (classic.owner, classic.own) == ("", "")


def test_both_generations_of_the_targets_page_are_read() -> None:
    mantine = targets_page((("fastapi-app", "fastapi-app\nShow config\n1 / 1 up\nUP"),))
    classic = targets_page((("celery-workers (0/2 up)", "celery-workers (0/2 up) show less"),))
    assert ui_pages.listed_pools(mantine) == {"fastapi-app": (1, 1)}
    assert ui_pages.listed_pools(classic) == {"celery-workers": (0, 2)}


def test_every_expected_job_must_be_listed_with_its_targets_up() -> None:
    page = targets_page(
        (("fastapi-app", "1 / 1 up"), ("celery-workers", "0 / 1 up"), ("other", "1 / 1 up"))
    )
    result = ui_pages.check_targets_page(page, MANTINE, JOBS, 15)
    assert not result.ok and result.name == "ui browser"
    assert "job fastapi-app listed with 1/1 targets UP" in result.evidence
    assert "job celery-workers shows 0/1 targets UP on the targets page" in result.evidence
    missing = ui_pages.check_targets_page(targets_page((("other", "1 / 1 up"),)), MANTINE, JOBS, 15)
    assert "job fastapi-app is not listed on the targets page (listed: other)" in missing.evidence
    exact = [JobExpectation("fastapi-app", 2, exact=2)]
    short = ui_pages.check_targets_page(page, MANTINE, exact, 15)
    assert "job fastapi-app lists 1 targets, expected 2" in short.evidence


def test_page_errors_fail_unless_known_harmless() -> None:
    pools = (("fastapi-app (1/1 up)", ""), ("celery-workers (1/1 up)", ""))
    assert ui_pages.check_targets_page(targets_page(pools), CLASSIC, JOBS, 15).ok
    tolerated = ui_pages.check_targets_page(targets_page(pools, (POPPER,)), CLASSIC, JOBS, 15)
    assert tolerated.ok and any("tolerated page error" in line for line in tolerated.evidence)
    broken = ui_pages.check_targets_page(targets_page(pools, (POPPER,)), MANTINE, JOBS, 15)
    assert not broken.ok and any(line.startswith("page error on") for line in broken.evidence)


def test_a_blank_or_alerting_page_is_not_kept() -> None:
    spec = PageSpec("status", "Status", "status", "table td", "3.16.0")
    blank = Rendered(spec, "http://x/status", ())
    ok, line = ui_pages.judge_page(blank, MANTINE, 15)
    assert not ok and "a blank or error page" in line
    wrong = Rendered(spec, "http://x/status", ("2.42.0",))
    assert ui_pages.judge_page(wrong, MANTINE, 15) == (
        False,
        "Status (http://x/status) does not show '3.16.0'",
    )
    alert = Rendered(spec, "http://x/status", (), alerts=("Empty query result\nno data",))
    assert (
        "shows no content but: Empty query result no data"
        in ui_pages.judge_page(alert, MANTINE, 15)[1]
    )
    good = Rendered(spec, "http://x/status", ("Version", "3.16.0"))
    assert ui_pages.judge_page(good, MANTINE, 15)[0]
    assert not ui_pages.check_targets_page(targets_page(()), MANTINE, JOBS, 15).ok
