"""Figure 9: the evidence report with its screenshots, for every check of verify.all.

``inv verify.all --url URL --report DIR`` as a new process (verify.all's checks, the browser
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
    Figure,
    Options,
    Row,
    goal,
    green_sample,
    median_below,
    run_measured,
    sample,
    timed_ms,
    wall_sample,
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


def one_server(binary: str, runs: int) -> list[Row]:
    """Figure 9's rows against one Prometheus binary."""
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
        reports = folder.glob("report-*")
        shots = max((len(list(r.glob("screenshots/*.png"))) for r in reports), default=0)
    shutil.rmtree(folder, ignore_errors=True)
    ours = wall_sample(reported)
    paired = [
        (r.wall_ms - p.wall_ms, r.exit_code == 0 and p.exit_code == 0)
        for r, p in zip(reported, plain, strict=True)
    ]
    return [
        Row(
            f"9 `inv verify.all --report DIR`: {len(green.results)} checks + browser check, "
            f"{shots} screenshots (Prometheus {green.version})",
            ours,
            wall_sample(plain),
            goal(ours, "< 10 s", median_below(GOAL_MS)),
        ),
        Row("9   of which the report: with --report - without (paired)", green_sample(paired)),
        Row(
            f"9   floor: chromium --headless --screenshot of the {len(urls)} pages, one by one",
            sample(floor),
        ),
    ]


def figure9(opts: Options) -> list[Row]:
    """`inv verify.all --report DIR` against `inv verify.all` and a bare Chromium's floor,
    on Debian's 2.42 (classic UI) and the 3.16 build (its single-page UI)."""
    if not os.access(CHROMIUM, os.X_OK):
        return [Row("9 report with screenshots", f"skipped: {CHROMIUM} not found")]
    binaries = dict.fromkeys([opts.prometheus, opts.prometheus3])
    return [row for binary in binaries for row in one_server(binary, opts.slow_runs)]


FIGURES = (Figure("9", "the evidence report with its screenshots", figure9),)
