"""Figure 9: the evidence report with its screenshots, for the 12 checks.

``inv verify.all --url URL --report DIR`` as a new process (12 checks, the browser
check of the targets page, a screenshot of every UI page that shows content) against
two measurements from the same run: ``inv verify.all`` without the report (what the
report adds), and the floor of the screenshots alone, Debian's ``chromium --headless
--screenshot`` of the same pages, one browser process per page as by hand.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urljoin

from bench.common import (
    GUIDE,
    Row,
    goal,
    run_measured,
    sample,
    timed_ms,
)
from bench.fig_verify import ONE_SECOND_ENV, green_server
from promkit.core.settings import DEFAULTS
from promkit.report import ui_pages
from promkit.verify import queries
from tests.support import get, inv_argv, run

CHROMIUM = str(DEFAULTS["report"]["chromium"])
GOAL_MS = 10_000.0


def page_urls(url: str, version: str) -> list[str]:
    """The pages the report screenshots: targets, status, flags, each query's graph."""
    base = urljoin(get(url + "/", timeout=10).url, ".")
    flavour = ui_pages.flavour_for(version)
    specs = ui_pages.pages_for(flavour, {}, queries.load_guide(GUIDE))
    return [urljoin(base, spec.path) for spec in specs]


def chromium_screenshots(urls: list[str], folder: Path) -> None:
    """One ``chromium --headless --screenshot`` per page, in turn: the floor."""
    for index, page in enumerate(urls):
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"]
        argv += [f"--screenshot={folder / f'{index}.png'}", page]
        run(argv, timeout=60, check=True)


def figure9(binary: str, runs: int) -> list[Row]:
    """`inv verify.all --report DIR` against `inv verify.all` and a bare Chromium's floor."""
    if not os.access(CHROMIUM, os.X_OK):
        return [Row("9 report with screenshots", f"skipped: {CHROMIUM} not found")]
    env = dict(os.environ, **ONE_SECOND_ENV)
    folder = Path(tempfile.mkdtemp(prefix="promkit-bench-report-"))
    with green_server(binary, "9") as (url, green):
        urls = page_urls(url, green.version)
        reported, plain, floor = [], [], []
        for index in range(runs):
            target = folder / f"report-{index}"
            reported.append(
                run_measured(inv_argv("verify.all", "--url", url, "--report", str(target)), env=env)
            )
            plain.append(run_measured(inv_argv("verify.all", "--url", url), env=env))
            floor += timed_ms(lambda: chromium_screenshots(urls, folder), 1)
        shots = len(list((folder / "report-0" / "screenshots").glob("*.png")))
    shutil.rmtree(folder, ignore_errors=True)
    red = sum(1 for ran in reported if ran.exit_code != 0)
    ours = sample([ran.wall_ms for ran in reported])
    return [
        Row(
            f"9 `inv verify.all --report DIR`: {len(green.results)} checks + browser check, "
            f"{shots} screenshots (Prometheus {green.version})"
            + (f" ({red} runs red!)" if red else ""),
            ours,
            sample([ran.wall_ms for ran in plain]),
            goal(ours.median < GOAL_MS, "< 10 s"),
        ),
        Row(
            "9   of which the report: with --report - without (paired)",
            sample([r.wall_ms - p.wall_ms for r, p in zip(reported, plain, strict=True)]),
        ),
        Row(
            f"9   floor: chromium --headless --screenshot of the {len(urls)} pages, one by one",
            sample(floor),
        ),
    ]
