"""Figures 1 and 2: verify.all on a healthy server, and how fast --wait sees a change.

1. verify.all in-process (one round) and as ``inv verify.all`` (a new process, as a
   user runs it) versus the runbook's way: one sequential curl per request the round
   makes, generated from its fetch plan (bench/runbook.py).
2. The detection delay of --wait: from the moment Prometheus records the scrape that
   makes the targets check true (its own lastScrape + lastScrapeDuration) to the
   moment promkit returns green; for a target that restarts, and for the first
   scrapes of a freshly started server.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke.config import Config

from bench import runbook
from bench.common import (
    GUIDE,
    Figure,
    Options,
    Row,
    Sample,
    exporter,
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
from promkit.core import settings
from promkit.core.settings import Expectations, JobExpectation
from promkit.verify import checks
from promkit.verify import client as prom
from promkit.verify import round as rounds
from promkit.verify.result import Verification
from promkit.verify.wait import Progress, wait_until_green
from tests.support import free_port, inv_argv, wait_for

JOBS = (JobExpectation("fastapi-app", 1), JobExpectation("celery-workers", 1))
#: The repo's rules, which verify.all (verify.rules) expects the green server to run.
REPO = rounds.repo_rules(settings.repo_path(settings.DEFAULTS["compose"]["prometheus_config"]))
RULE_FILES = {f"rules/{path.name}": path.read_text() for path in {g.file for g in REPO.groups}}


def expectations(interval: str) -> Expectations:
    return Expectations(jobs=JOBS, scrape_interval=interval, evaluation_interval=interval)


def client(url: str) -> prom.PrometheusClient:
    """A client as verify builds one from promkit's default settings."""
    config = Config()
    config.load_collection(settings.DEFAULTS)
    return prom.client_from_settings(settings.load(config).prometheus, url)


def quiet() -> Progress:
    """--wait's progress, discarded: the bench prints only its table."""
    return Progress(stream=io.StringIO(), live=False)


# -- figure 1 ------------------------------------------------------------------------


#: `inv` settings matching green_server's one-second scrapes.
ONE_SECOND_ENV = {"INVOKE_EXPECT_SCRAPE_INTERVAL": "1s", "INVOKE_EXPECT_EVALUATION_INTERVAL": "1s"}


def one_round(url: str) -> Verification:
    """One verify.all round in-process, as `inv verify.all` runs it (no --context)."""
    return rounds.run_round(rounds.NAMES, client(url), expectations("1s"), GUIDE, repo=REPO)


@contextmanager
def green_server(binary: str, figure: str) -> Iterator[tuple[str, Verification]]:
    """A Prometheus scraping the two exporters every second, and its first green round
    (or, after 60 s, its last red one: the figure's runs then count as red).

    One-second scrapes, so the documented queries have data within seconds.
    """
    with (
        exporter("app", free_port()) as app,
        exporter("worker", free_port()) as worker,
        prometheus(
            binary,
            {
                **prometheus_config({"fastapi-app": [app], "celery-workers": [worker]}, "1s"),
                "rule_files": ["rules/*.rules.yml"],
            },
            files=RULE_FILES,
        ) as url,
    ):
        log(f"figure {figure}: waiting for {url} to be green")
        green = wait_until_green(lambda: one_round(url), 60.0, progress=quiet())
        if not green.ok:
            failed = ", ".join(r.name for r in green.results if not r.ok)
            log(f"figure {figure}: {url} was not green within 60 s (red: {failed})")
        yield url, green


def timed_round(url: str) -> tuple[float, bool]:
    """One in-process round: its wall time in ms, and whether it was green."""
    start = time.perf_counter()
    outcome = one_round(url)
    return (time.perf_counter() - start) * 1000, outcome.ok


def figure1(opts: Options) -> list[Row]:
    """verify.all in-process and as `inv verify.all`, each against the runbook's curls."""
    env = dict(os.environ, **ONE_SECOND_ENV)
    with (
        tempfile.TemporaryDirectory(prefix="promkit-bench-runbook-") as folder,
        green_server(opts.prometheus, "1") as (url, green),
    ):
        script = runbook.write(green.requests, url, Path(folder))
        inproc = green_sample([timed_round(url) for _ in range(opts.runs)])
        # Interleaved, so load from elsewhere on the machine hits all alike. `inv
        # --version` is Invoke starting without tasks.py: the difference of each pair
        # is what promkit adds to a bare Invoke start.
        curl: list[float] = []
        cli_runs, bare_runs = [], []
        for _ in range(opts.runs):
            curl += timed_ms(lambda: runbook.curl(script, url), 1)
            bare_runs.append(run_measured(inv_argv("--version")))
            cli_runs.append(run_measured(inv_argv("verify.all", "--url", url), env=env))
    cli = wall_sample(cli_runs)
    base = sample(curl)
    paired = [
        (c.wall_ms - b.wall_ms, c.exit_code == 0) for c, b in zip(cli_runs, bare_runs, strict=True)
    ]
    checks_n, requests_n = len(green.results), len(green.requests)
    return [
        Row(
            f"1 verify.all, one round in-process ({checks_n} checks, {requests_n} requests, "
            f"Prometheus {green.version})",
            inproc,
            base,
            goal(inproc, "<= curls and < 300 ms", at_most(base, 300)),
        ),
        Row(
            "1 `inv verify.all`, new process",
            cli,
            base,
            goal(cli, "<= curls and < 300 ms", at_most(base, 300)),
        ),
        Row(
            "1   of which promkit: `inv verify.all` - `inv --version` (paired)",
            green_sample(paired),
            base,
        ),
        Row(
            f"1   baseline: {runbook.NAME}, the round's {requests_n} requests as sequential curls",
            base,
        ),
    ]


def at_most(base: Sample, limit_ms: float) -> Callable[[Sample], bool]:
    return lambda ours: ours.median <= base.median and ours.median < limit_ms


# -- figure 2 ------------------------------------------------------------------------


def true_since(url: str, job: str | None = None) -> float:
    """When Prometheus finished the scrape that made (job's) targets up: epoch seconds."""
    data = client(url).targets()
    ends = [
        target.last_scrape.timestamp() + (target.duration_ms or 0.0) / 1000
        for target in checks.active_targets(data)
        if target.last_scrape is not None and (job is None or target.job == job)
    ]
    if not ends:
        raise RuntimeError(f"no scraped target of {job or 'any job'} at {url}")
    return max(ends)


def green_delay_ms(url: str, expect: Expectations, job: str | None = None) -> tuple[float, bool]:
    """Run --wait on verify.targets until green; ms from the condition becoming true, and
    whether it became green within the deadline (a red run)."""
    outcome = wait_until_green(
        lambda: rounds.run_round(["targets"], client(url), expect), 120.0, progress=quiet()
    )
    green = time.time()
    return (green - true_since(url, job)) * 1000, outcome.ok


def health_of(url: str, job: str) -> str:
    data = client(url).targets()
    return next((t.health for t in checks.active_targets(data) if t.job == job), "absent")


Delays = list[tuple[float, bool]]


def restart_delays(binary: str, runs: int, interval: str) -> Delays:
    """A worker target is down, then its exporter starts: ms until promkit is green."""
    expect = expectations(interval)
    worker = f"127.0.0.1:{free_port()}"
    port = int(worker.rsplit(":", 1)[1])
    delays = []
    with exporter("app", free_port()) as app:
        config = prometheus_config({"fastapi-app": [app], "celery-workers": [worker]}, interval)
        with prometheus(binary, config) as url:
            for index in range(runs):
                log(f"figure 2: target restart {index + 1}/{runs}")
                # Stopped (or not started yet): Prometheus must first see it down.
                wait_for("worker down", lambda: health_of(url, "celery-workers") == "down", 60)
                with exporter("worker", port):
                    delays.append(green_delay_ms(url, expect, "celery-workers"))
    return delays


def first_scrape_delays(binary: str, runs: int, interval: str) -> Delays:
    """A fresh Prometheus starts: ms from its last first scrape to promkit green."""
    expect = expectations(interval)
    delays = []
    with exporter("app", free_port()) as app, exporter("worker", free_port()) as worker:
        config = prometheus_config({"fastapi-app": [app], "celery-workers": [worker]}, interval)
        for index in range(runs):
            log(f"figure 2: first scrapes of a fresh server {index + 1}/{runs}")
            with prometheus(binary, config) as url:
                delays.append(green_delay_ms(url, expect))
    return delays


def figure2(opts: Options) -> list[Row]:
    """--wait detection delay: a target restarts; a fresh server's first scrapes land."""
    rows = []
    cases: list[tuple[str, Callable[[str, int, str], Delays]]] = [
        ("a target restarts", restart_delays),
        ("first scrapes of a fresh server land", first_scrape_delays),
    ]
    for what, measure in cases:
        delays = green_sample(measure(opts.prometheus, opts.slow_runs, opts.interval))
        rows.append(
            Row(
                f"2 --wait detection delay: {what} (scrapes every {opts.interval})",
                delays,
                "0 (condition true)",
                goal(delays, "median < 1 s", median_below(1000)),
            )
        )
    return rows


FIGURES = (
    Figure("1", "verify.all on a healthy server vs the runbook's curls", figure1),
    Figure("2", "the detection delay of --wait", figure2),
)
