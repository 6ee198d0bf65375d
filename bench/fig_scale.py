"""Figure 4: `inv verify.targets` against a real Prometheus scraping thousands of targets.

One synthetic exporter process (bench/synthetic_exporter.py) serves N targets on N
loopback addresses; Prometheus scrapes them every 15s. Once all are up, promkit's
wall time and peak memory (its own max RSS, from wait4) are measured over repeated
`inv verify.targets` runs, beside the floor: one curl fetching what promkit reads
(targets, config, buildinfo) from the same server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bench import synthetic_exporter
from bench.common import (
    PYTHON,
    ROOT,
    Figure,
    Options,
    Row,
    all_scraped_up,
    goal,
    green_sample,
    log,
    median_below,
    prometheus,
    prometheus_config,
    run_measured,
    sample,
    timed_ms,
    wall_sample,
)
from tests.support import Background, api_data, inv_argv, run, wait_for

JOB = "synthetic"
#: Scrape budget for the synthetic targets: one Python process answers ~670 scrapes/s
#: on the same 2 cores as Prometheus and promkit, so a scrape can stall for more than
#: the 100 ms a real exporter gets. Green runs are what is timed, not this exporter.
SCRAPE_BUDGET_MS = 1000
GOAL_S, GOAL_MB = 2.0, 200.0


@contextmanager
def synthetic_targets(count: int) -> Iterator[list[str]]:
    """The synthetic exporter serving ``count`` targets; yields their addresses."""
    argv = [PYTHON, "-m", "bench.synthetic_exporter", "--targets", str(count)]
    with tempfile.TemporaryDirectory(prefix="promkit-bench-synthetic-") as tmp:
        process = Background(argv, Path(tmp) / "exporter.log", cwd=ROOT).start()
        try:
            line = wait_for("the synthetic exporter serving", lambda: serving(process), 120)
            yield synthetic_exporter.targets(count, int(line.rsplit(":", 1)[1]))
        finally:
            process.stop(20)


def serving(process: Background) -> str | None:
    """The exporter's ``serving ...`` line once printed; RuntimeError if it exited."""
    lines = [line for line in process.log().splitlines() if line.startswith("serving ")]
    if not lines and not process.alive:
        raise RuntimeError(f"synthetic exporter did not start: {process.tail()}")
    return lines[0] if lines else None


def settings_file(directory: Path, count: int) -> Path:
    """An `inv -f` settings file expecting exactly ``count`` targets of the synthetic job."""
    path = directory / "scale.yaml"
    expect = {
        "jobs": {"fastapi-app": None, "celery-workers": None, JOB: f"={count}"},
        "scrape_duration_ms": SCRAPE_BUDGET_MS,
    }
    path.write_text(yaml.safe_dump({"expect": expect}))
    return path


def curl_floor(url: str) -> None:
    paths = ("/api/v1/targets", "/api/v1/status/config", "/api/v1/status/buildinfo")
    argv = ["curl", "-fsS", "--max-time", "30"]
    for path in paths:
        argv += ["-o", "/dev/null", url + path]
    done = run(argv)
    if done.returncode != 0:
        raise RuntimeError(f"curl failed (exit {done.returncode}): {done.stderr.strip()}")


def one_size(binary: str, count: int, runs: int) -> list[Row]:
    """Rows for ``count`` targets: wall time versus the curl floor, and peak memory."""
    with (
        tempfile.TemporaryDirectory(prefix="promkit-bench-scale-") as tmp,
        synthetic_targets(count) as addresses,
        prometheus(binary, prometheus_config({JOB: addresses}, "15s")) as url,
    ):
        log(f"figure 4: waiting for {count} targets to be scraped (one 15s round)")
        wait_for(f"{count} targets up", lambda: all_scraped_up(url, count), 120, every=1.0)
        version = api_data(url, "/api/v1/status/buildinfo")["version"]
        argv = inv_argv("-f", str(settings_file(Path(tmp), count)), "verify.targets", "--url", url)
        ran = [run_measured(argv) for _ in range(runs)]
        floor = sample(timed_ms(lambda: curl_floor(url), runs))
    wall = wall_sample(ran)
    rss = green_sample([(r.max_rss_mb, r.exit_code == 0) for r in ran], "MB")
    label = f"4 `inv verify.targets`, {count:,} targets (Prometheus {version}) vs one curl"
    wall_goal = memory_goal = ""
    if count >= 10_000:
        wall_goal = goal(wall, f"< {GOAL_S:g} s", median_below(GOAL_S * 1000))
        memory_goal = goal(rss, f"< {GOAL_MB:g} MB", lambda ours: max(ours.values) < GOAL_MB)
    return [
        Row(label, wall, floor, wall_goal),
        Row(f"4   peak memory (max RSS), {count:,} targets", rss, "-", memory_goal),
    ]


def figure4(opts: Options) -> list[Row]:
    """verify.targets at each size; the floor is curl fetching the same data."""
    return [
        row for count in opts.targets for row in one_size(opts.prometheus, count, opts.slow_runs)
    ]


FIGURES = (Figure("4", "verify.targets against thousands of targets", figure4),)
