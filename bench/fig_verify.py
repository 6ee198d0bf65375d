"""Figures 1 and 2: verify.all on a healthy server, and how fast --wait sees a change.

1. verify.all in-process (one round) and as ``inv verify.all`` (a new process, as a
   user runs it) versus the runbook's way: one sequential curl per endpoint and per
   documented query (bench/runbook-curl.sh).
2. The detection delay of --wait: from the moment Prometheus records the scrape that
   makes the targets check true (its own lastScrape + lastScrapeDuration) to the
   moment promkit returns green; for a target that restarts, and for the first
   scrapes of a freshly started server.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from invoke.config import Config

from bench.common import (
    GUIDE,
    RUNBOOK,
    Row,
    Sample,
    exporter,
    goal,
    log,
    prometheus,
    prometheus_config,
    run_measured,
    sample,
    timed_ms,
)
from promkit.core import settings
from promkit.core.settings import Expectations, JobExpectation
from promkit.verify import checks, queries
from promkit.verify import client as prom
from promkit.verify import round as rounds
from promkit.verify.result import Verification
from promkit.verify.wait import Progress, wait_until_green
from tests.support import free_port, inv_argv, run, wait_for

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


def curl_runbook(url: str) -> None:
    exprs = [q.promql for q in queries.load_guide(GUIDE)]
    done = run(["bash", str(RUNBOOK), url, *exprs])
    if done.returncode != 0:
        raise RuntimeError(f"{RUNBOOK.name} failed (exit {done.returncode}): {done.output[-300:]}")


#: `inv` settings matching green_server's one-second scrapes.
ONE_SECOND_ENV = {"INVOKE_EXPECT_SCRAPE_INTERVAL": "1s", "INVOKE_EXPECT_EVALUATION_INTERVAL": "1s"}


@contextmanager
def green_server(binary: str, figure: str) -> Iterator[tuple[str, Verification]]:
    """A Prometheus scraping the two exporters every second, once all 15 checks pass.

    One-second scrapes, so the documented queries have data within seconds. Yields its
    URL and the green round.
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
        expect = expectations("1s")
        green = wait_until_green(
            lambda: rounds.run_round(rounds.NAMES, client(url), expect, GUIDE, repo=REPO),
            60.0,
            progress=quiet(),
        )
        if not green.ok:
            raise RuntimeError(f"figure {figure}: {url} never became green")
        yield url, green


def figure1(binary: str, runs: int) -> list[Row]:
    """verify.all in-process and as `inv verify.all`, each against the runbook's curls."""
    expect = expectations("1s")
    env = dict(os.environ, **ONE_SECOND_ENV)
    with green_server(binary, "1") as (url, green):
        inproc = timed_ms(
            lambda: rounds.run_round(rounds.NAMES, client(url), expect, GUIDE, repo=REPO), runs
        )
        # Interleaved, so load from elsewhere on the machine hits all alike. `inv
        # --version` is Invoke starting without tasks.py: the difference of each pair
        # is what promkit adds to a bare Invoke start.
        curl: list[float] = []
        cli_runs, bare_runs = [], []
        for _ in range(runs):
            curl += timed_ms(lambda: curl_runbook(url), 1)
            bare_runs.append(run_measured(inv_argv("--version")))
            cli_runs.append(run_measured(inv_argv("verify.all", "--url", url), env=env))
    failed = sum(1 for ran in cli_runs if ran.exit_code != 0)
    cli = sample([ran.wall_ms for ran in cli_runs])
    base = sample(curl)
    checks_n = len(green.results)
    return [
        Row(
            f"1 verify.all, one round in-process ({checks_n} checks, Prometheus {green.version})",
            sample(inproc),
            base,
            goal(_at_most(sample(inproc), base, 300), "<= curls and < 300 ms"),
        ),
        Row(
            "1 `inv verify.all`, new process" + (f" ({failed} runs red!)" if failed else ""),
            cli,
            base,
            goal(_at_most(cli, base, 300), "<= curls and < 300 ms"),
        ),
        Row(
            "1   of which promkit: `inv verify.all` - `inv --version` (paired)",
            sample([c.wall_ms - b.wall_ms for c, b in zip(cli_runs, bare_runs, strict=True)]),
            base,
        ),
        Row("1   baseline: bench/runbook-curl.sh (13 sequential curls)", base),
    ]


def _at_most(ours: Sample, base: Sample, limit_ms: float) -> bool:
    return ours.median <= base.median and ours.median < limit_ms


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


def green_delay_ms(url: str, expect: Expectations, job: str | None = None) -> float:
    """Run --wait on verify.targets until green; ms from the condition becoming true."""
    wait_until_green(
        lambda: rounds.run_round(["targets"], client(url), expect), 120.0, progress=quiet()
    )
    green = time.time()
    return (green - true_since(url, job)) * 1000


def health_of(url: str, job: str) -> str:
    data = client(url).targets()
    return next((t.health for t in checks.active_targets(data) if t.job == job), "absent")


def restart_delays(binary: str, runs: int, interval: str) -> list[float]:
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


def first_scrape_delays(binary: str, runs: int, interval: str) -> list[float]:
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


def figure2(binary: str, runs: int, interval: str) -> list[Row]:
    """--wait detection delay: a target restarts; a fresh server's first scrapes land."""
    rows = []
    cases: list[tuple[str, Callable[[str, int, str], list[float]]]] = [
        ("a target restarts", restart_delays),
        ("first scrapes of a fresh server land", first_scrape_delays),
    ]
    for what, measure in cases:
        delays = sample(measure(binary, runs, interval))
        rows.append(
            Row(
                f"2 --wait detection delay: {what} (scrapes every {interval})",
                delays,
                "0 (condition true)",
                goal(delays.median < 1000, "median < 1 s"),
            )
        )
    return rows
