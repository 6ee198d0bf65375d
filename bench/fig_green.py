"""Figure 3: time to green from a stopped stack, split into its phases.

Times `inv deploy.local traffic --count 30 verify.all --wait 180` from a stopped
stack (containers stopped, data volume kept, images present) in a compose project
of its own (promkit-bench on ports 29090/28000; never the `promkit` project).
`traffic` is part of the command because the documented queries need fresh
samples in their windows, as in the README's quick start.

Phases come from the command's own output lines (timestamped as they arrive) and
from Prometheus itself, afterwards: when it was ready (polled), when it scraped
each target for the first time (the first `up` sample after the start) and from
when each documented query had data (a range query over the run). The floor is
the latest of these: no verifier can be green before Prometheus has it all.
promkit's overhead is its total minus that floor.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sh

from bench.common import (
    GUIDE,
    ROOT,
    Figure,
    Options,
    Row,
    Sample,
    goal,
    log,
    median_below,
    sample,
)
from promkit.verify import queries
from tests.support import Completed, api_data, inv_argv, run, status
from tests.support.processes import ANY_EXIT

PROJECT = "promkit-bench"
PROM_PORT, APP_PORT = 29090, 28000
URL = f"http://127.0.0.1:{PROM_PORT}"
ENV = {
    "INVOKE_COMPOSE_PROJECT": PROJECT,
    "PROMKIT_PROMETHEUS_PORT": str(PROM_PORT),
    "PROMKIT_APP_PORT": str(APP_PORT),
    "INVOKE_PROMETHEUS_URL": URL,
    "INVOKE_COMPOSE_APP_URL": f"http://127.0.0.1:{APP_PORT}",
    # The alerting services beside Prometheus' port (as tests/support/stack.py puts them).
    "PROMKIT_ALERTMANAGER_PORT": str(PROM_PORT + 3),
    "PROMKIT_ALERTMANAGER2_PORT": str(PROM_PORT + 6),
    "PROMKIT_ALERT_SINK_PORT": str(PROM_PORT + 5),
    "INVOKE_ALERTS_ALERTMANAGER_URL": f"http://127.0.0.1:{PROM_PORT + 3}",
    "INVOKE_ALERTS_SINK_URL": f"http://127.0.0.1:{PROM_PORT + 5}",
    # Output lines are timestamped as they arrive.
    "PYTHONUNBUFFERED": "1",
}
COMMAND = ("deploy.local", "traffic", "--count", "30", "verify.all", "--wait", "180")
GOAL_S = 2.0
SETUP_BURSTS = 4
GREEN_LINE = re.compile(r"^Prometheus \S+ at http")


def bench_env() -> dict[str, str]:
    return {**os.environ, **ENV}


def compose_argv(*args: str) -> list[str]:
    """`docker compose` for the bench's own project (never the `promkit` one)."""
    file = ROOT / "compose" / "compose.yaml"
    return ["docker", "compose", "--file", str(file), "--project-name", PROJECT, *args]


def run_bench(argv: Sequence[str], timeout: float = 300.0) -> Completed:
    """``argv`` from the repository root in the bench's environment (its project, ports)."""
    return run(argv, cwd=ROOT, env=bench_env(), timeout=timeout)


def run_ok(argv: Sequence[str], what: str, timeout: float = 300.0) -> None:
    done = run_bench(argv, timeout)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))


def skip_reason() -> str | None:
    """Why figure 3 cannot run here (no engine, no images), or None."""
    try:
        if run_bench(["docker", "info", "--format", "{{.ServerVersion}}"], 30).returncode != 0:
            return "skipped: no Docker engine"
        if run_bench(["docker", "compose", "version"], 30).returncode != 0:
            return "skipped: no Docker Compose v2"
    except (OSError, sh.CommandNotFound, sh.TimeoutException):
        return "skipped: no Docker engine"
    return None


# -- one timed run --------------------------------------------------------------------


@dataclass
class Timeline:
    """Seconds since the command started, of everything observed during one run."""

    start_wall: float
    marks: dict[str, float] = field(default_factory=dict)
    first_scrapes: dict[str, float] = field(default_factory=dict)
    queries_true: float | None = None
    total: float = 0.0
    output: list[str] = field(default_factory=list)
    #: The command's exit code: a red run (not 0) is counted, never timed.
    code: int = 0

    @property
    def green(self) -> bool:
        return self.code == 0

    @property
    def floor(self) -> float:
        """When Prometheus had everything verify.all needs: ready, every target, data."""
        parts = [self.marks.get("ready", 0.0), *self.first_scrapes.values()]
        return max([*parts, self.queries_true or 0.0])


def watch_ready(timeline: Timeline, started: float, done: threading.Event) -> None:
    """Record when Prometheus first answers /-/ready with 200 (polled every 50 ms)."""
    while not done.is_set() and time.perf_counter() - started < 300:
        if status(URL + "/-/ready", timeout=0.5) == 200:
            timeline.marks["ready"] = time.perf_counter() - started
            return
        time.sleep(0.05)


def mark_line(timeline: Timeline, line: str, at: float) -> None:
    timeline.output.append(line)
    if line.startswith("validated "):
        timeline.marks.setdefault("validated", at)
    elif line.startswith("Prometheus UI and API:"):
        timeline.marks.setdefault("deployed", at)
    elif line.startswith("sent ") and "webhooks" in line:
        timeline.marks.setdefault("traffic", at)
    elif GREEN_LINE.match(line):
        timeline.marks.setdefault("green", at)


def timed_run(command: Sequence[str] = COMMAND) -> Timeline:
    """Run ``command`` once; its timeline (marks, total)."""
    timeline = Timeline(start_wall=time.time())
    started = time.perf_counter()
    done = threading.Event()
    watcher = threading.Thread(target=watch_ready, args=(timeline, started, done))
    watcher.start()

    def on_line(line: str) -> None:
        mark_line(timeline, line.rstrip("\n"), time.perf_counter() - started)

    try:
        # Each output line is timestamped as it arrives (sh calls on_line per line); sh
        # kills the command at the timeout.
        python, *args = inv_argv(*command)
        process = sh.Command(python)(
            *args, _cwd=str(ROOT), _env=bench_env(), _out=on_line, _err_to_out=True,
            _tty_out=False, _ok_code=ANY_EXIT, _timeout=300, _return_cmd=True,
        )  # fmt: skip
        code = process.exit_code
        timeline.total = time.perf_counter() - started
    finally:
        done.set()
        watcher.join()
    timeline.code = code
    if code != 0:
        tail = " | ".join(timeline.output[-6:])
        log(f"a red run: `inv {' '.join(command)}` exited {code}: {tail}")
    return timeline


# -- what Prometheus recorded -----------------------------------------------------------


def first_scrapes(start_wall: float, url: str = URL) -> dict[str, float]:
    """Per target (job/instance): seconds from the start to its first successful scrape."""
    window = math.ceil(time.time() - start_wall) + 5
    data = api_data(url, "/api/v1/query", {"query": f"up[{window}s]"})
    found = {}
    for series in data["result"]:
        labels = series["metric"]
        since = [(float(ts), value) for ts, value in series["values"] if float(ts) >= start_wall]
        ups = [ts for ts, value in since if value == "1"]
        if since:
            first = min(ups) if ups else since[0][0]
            found[f"{labels['job']}/{labels['instance']}"] = first - start_wall
    return found


def _first_with_data(result: list[dict[str, Any]]) -> float | None:
    stamps = [
        float(ts) for series in result for ts, value in series["values"] if value.lower() != "nan"
    ]
    return min(stamps) if stamps else None


def queries_have_data(start_wall: float, end_wall: float, url: str = URL) -> float:
    """Seconds from the start until every documented query returned data (250 ms steps)."""
    latest = 0.0
    for query in queries.load_guide(GUIDE):
        params = {"query": query.promql, "start": start_wall, "end": end_wall, "step": 0.25}
        data = api_data(url, "/api/v1/query_range", params)
        first = _first_with_data(data["result"])
        latest = max(latest, (first if first is not None else end_wall) - start_wall)
    return latest


def one_run(index: int, runs: int) -> Timeline:
    log(f"figure 3: stopping the stack, then timing the start {index + 1}/{runs}")
    run_ok(compose_argv("stop"), "docker compose stop", 180)
    timeline = timed_run()
    timeline.first_scrapes = first_scrapes(timeline.start_wall)
    timeline.queries_true = queries_have_data(timeline.start_wall, time.time())
    return timeline


# -- the figure ------------------------------------------------------------------------------


def require_free_ports() -> None:
    busy = [p for p in (PROM_PORT, APP_PORT) if status(f"http://127.0.0.1:{p}/") != 0]
    if busy:
        raise RuntimeError(f"ports {busy} already answer: something else uses them")


def deploy_bench_stack(figure: str) -> None:
    """A new bench stack; images it lacks are got here, outside the timed runs."""
    log(f"figure {figure}: deploying the {PROJECT} stack on ports {PROM_PORT}/{APP_PORT}")
    run_ok(inv_argv("destroy.local", "--volumes"), "inv destroy.local --volumes")
    require_free_ports()
    run_ok(inv_argv("deploy.local"), "inv deploy.local", 3600)


def setup() -> None:
    """A clean bench stack with traffic and green checks, as a user would have left it."""
    deploy_bench_stack("3")
    # On a fresh TSDB a burst the worker finishes before its first scrape leaves the
    # rate() queries flat (NaN) until more traffic comes: post again until green.
    for attempt in range(1, SETUP_BURSTS + 1):
        run_ok(inv_argv("traffic", "--count", "30"), "inv traffic")
        if run_bench(inv_argv("verify.all", "--wait", "45"), 90).returncode == 0:
            return
        log(f"figure 3: not green after traffic burst {attempt}/{SETUP_BURSTS}")
    raise RuntimeError(f"the {PROJECT} stack was not green after {SETUP_BURSTS} traffic bursts")


def teardown(figure: str) -> None:
    log(f"figure {figure}: removing the {PROJECT} stack (inv destroy.local --volumes)")
    run_ok(inv_argv("destroy.local", "--volumes"), "inv destroy.local --volumes")


def totals(timelines: list[Timeline]) -> tuple[Sample, Sample, Sample]:
    """Total, floor and overhead of the runs: of the green ones, the red ones counted."""
    green = [t for t in timelines if t.green]
    red = len(timelines) - len(green)
    total = sample([t.total for t in green], "s", red)
    floor = sample([t.floor for t in green], "s", red)
    return total, floor, sample([t.total - t.floor for t in green], "s", red)


def phase_rows(timelines: list[Timeline]) -> list[Row]:
    timelines = [t for t in timelines if t.green]

    def between(a: str | None, b: str) -> list[float]:
        seen = [t.marks for t in timelines if b in t.marks and (a is None or a in t.marks)]
        return [marks[b] - (marks[a] if a else 0.0) for marks in seen]

    rows = [
        Row(
            "3   validation (compose config, app image, promtool)",
            sample(between(None, "validated"), "s"),
        ),
        Row(
            "3   compose up --wait (every container healthy)",
            sample(between("validated", "deployed"), "s"),
        ),
        Row("3   traffic (30 webhooks)", sample(between("deployed", "traffic"), "s")),
        Row(
            "3   verify.all --wait, until green",
            sample([t.total - t.marks["traffic"] for t in timelines if "traffic" in t.marks], "s"),
        ),
        Row("3   Prometheus ready (since the start)", sample(between(None, "ready"), "s")),
    ]
    for target in sorted({name for t in timelines for name in t.first_scrapes}):
        times = [t.first_scrapes[target] for t in timelines if target in t.first_scrapes]
        rows.append(
            Row(f"3   first successful scrape of {target} (since the start)", sample(times, "s"))
        )
    # Samples kept from before the stop may answer a query at once, but only once
    # Prometheus is ready to be asked.
    answered = [max(t.queries_true or 0.0, t.marks.get("ready", 0.0)) for t in timelines]
    rows.append(
        Row("3   documented queries answer with data (since the start)", sample(answered, "s"))
    )
    return rows


def figure3(opts: Options) -> list[Row]:
    """Time to green from a stopped stack, each phase, and promkit's overhead over the floor."""
    runs = opts.green_runs
    label = "3 time to green from a stopped stack vs when Prometheus had it all"
    reason = skip_reason()
    if reason:
        return [Row(label, reason)]
    try:
        setup()
        timelines = [one_run(index, runs) for index in range(runs)]
    finally:
        teardown("3")
    total, floor, overhead = totals(timelines)
    return [
        Row(label, total, floor),
        *phase_rows(timelines),
        Row(
            "3 promkit's overhead: total - floor",
            overhead,
            "-",
            goal(overhead, f"< {GOAL_S:g} s", median_below(GOAL_S)),
        ),
    ]


# -- figure 6: the card's command on a fresh stack ----------------------------------------

FRESH_COMMAND = ("deploy.local", "verify.all")


def fresh_run(index: int, runs: int) -> Timeline:
    """`inv deploy.local verify.all` with no container and no data: a user's first run."""
    log(f"figure 6: removing the stack and its data, then timing a first run {index + 1}/{runs}")
    run_ok(inv_argv("destroy.local", "--volumes"), "inv destroy.local --volumes")
    timeline = timed_run(FRESH_COMMAND)
    timeline.first_scrapes = first_scrapes(timeline.start_wall)
    timeline.queries_true = queries_have_data(timeline.start_wall, time.time())
    return timeline


def figure6(opts: Options) -> list[Row]:
    """A fresh `inv deploy.local verify.all` to green, against when Prometheus had it all."""
    label = "6 fresh `inv deploy.local verify.all` (the stack's Prometheus) vs its own floor"
    reason = skip_reason()
    if reason:
        return [Row(label, reason)]
    runs = opts.green_runs
    try:
        deploy_bench_stack("6")
        timelines = [fresh_run(index, runs) for index in range(runs)]
    finally:
        teardown("6")
    total, floor, overhead = totals(timelines)
    green = [t for t in timelines if t.green]
    ready = [t.marks["ready"] for t in green if "ready" in t.marks]
    last_scrape = [max(t.first_scrapes.values(), default=0.0) for t in green]
    return [
        Row(label, total, floor),
        Row("6   deploy.local (validation + compose up --wait)", sample(
            [t.marks["deployed"] for t in green if "deployed" in t.marks], "s")),
        Row("6   Prometheus ready (since the start)", sample(ready, "s")),
        Row("6   first scrape round complete (since the start)", sample(last_scrape, "s")),
        Row("6   rate() has its two samples: every query has data", sample(
            [t.queries_true or 0.0 for t in green], "s")),
        Row("6 promkit's overhead: total - floor", overhead, "-",
            goal(overhead, f"< {GOAL_S:g} s", median_below(GOAL_S))),
    ]  # fmt: skip


FIGURES = (
    Figure("3", "time to green from a stopped compose stack, by phase", figure3),
    Figure("6", "the card's command on a first run (compose)", figure6),
)
