"""Figure: the upgrade rehearsal's time to its verdict, against the floor it cannot beat.

``inv verify.upgrade --from`` Debian's 2.42 ``--to`` the 3.16 build, on the repo's
prometheus.yml and rule files (a copy whose static targets point at loopback exporters of
the sample service's metrics, tests/support/exporter.py, instead of the compose names;
``--quick``: scraping and evaluating every 2 s instead of 15 s) and the repo's metrics
guide. Its floor, measured before each run: both servers started side by side on that
config until both have scraped every target three times and evaluated every rule group
twice (as each server reports it, polled every 0.1 s): what the rehearsal waits for before
it compares, so no rehearsal can answer sooner. (Three scrape intervals after the start
would understate it: Prometheus' discovery hands the targets over up to 5 s after the
start, and each target's first scrape lands at its own offset within the interval.) The
floor and the run each start just past a multiple of the scrape interval on the wall
clock, the phase Prometheus times its scrapes and evaluations from, so both wait alike.
Goal: promkit's overhead over that floor < 3 s.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import (
    GUIDE,
    ROOT,
    Figure,
    Options,
    Row,
    Sample,
    exporter,
    goal,
    log,
    median_below,
    run_measured,
    wall_sample,
)
from promkit.core.durations import parse_duration
from promkit.verify.rehearsal import EVALUATIONS, SCRAPES
from tests.support import PrometheusServer, active_targets, api_data, free_port, inv_argv, wait_for

CONFIG_DIR = ROOT / "config" / "prometheus"
OVERHEAD_GOAL_MS = 3000.0
#: How far past a multiple of the scrape interval both the floor and each run start.
PHASE_S = 0.05


def _config(folder: Path, targets: dict[str, str], interval: str) -> Path:
    """The repo's config and rules in ``folder``, its jobs scraping ``targets`` by job."""
    shutil.copytree(CONFIG_DIR, folder, dirs_exist_ok=True)
    path = folder / "prometheus.yml"
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    if parse_duration(config["global"].get("scrape_timeout", "10s")) > parse_duration(interval):
        config["global"]["scrape_timeout"] = interval
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rules(folder: Path) -> dict[str, str]:
    return {f"rules/{p.name}": p.read_text() for p in sorted(folder.glob("rules/*.rules.yml"))}


class Settling:
    """One server's way to the state the rehearsal compares: every target scraped
    SCRAPES times, every rule group evaluated EVALUATIONS times (distinct lastEvaluation)."""

    def __init__(self, server: PrometheusServer, groups: int) -> None:
        self.server, self.groups = server, groups
        self.evaluations: dict[str, set[str]] = {}

    def settled(self) -> bool:
        url = self.server.url
        for group in api_data(url, "/api/v1/rules")["groups"]:
            last = group.get("lastEvaluation", "")
            if last and not last.startswith("0001-"):
                self.evaluations.setdefault(group["name"], set()).add(last)
        targets = active_targets(url)
        scraped = api_data(url, "/api/v1/query", {"query": "count_over_time(up[1d])"})["result"]
        return (
            bool(targets)
            and len(scraped) >= len(targets)
            and all(float(row["value"][1]) >= SCRAPES for row in scraped)
            and len(self.evaluations) >= self.groups
            and all(len(seen) >= EVALUATIONS for seen in self.evaluations.values())
        )


def at_phase(interval_s: float) -> None:
    """Sleep until just past a multiple of ``interval_s`` on the wall clock. Prometheus
    times each target's scrapes and each group's evaluations at a fixed offset from such
    multiples, so runs started at the same phase wait the same for their scrapes, and the
    floor and promkit's run are compared like for like (else one interval of jitter)."""
    time.sleep(interval_s - time.time() % interval_s + PHASE_S)


def floor_ms(binaries: tuple[str, str], config_file: Path) -> float:
    """Both servers started side by side on the config: ms until both are settled, as
    Prometheus itself reports it (polled every 0.1 s)."""
    config = yaml.safe_load(config_file.read_text())
    rules = _rules(config_file.parent)
    groups = sum(len(yaml.safe_load(text)["groups"]) for text in rules.values())
    servers = [PrometheusServer(b, config, files=rules) for b in binaries]
    began = time.perf_counter()
    try:
        for server in servers:
            server.start(wait_ready=False)
        for server in servers:
            server.wait_ready(60)
        sides = [Settling(server, groups) for server in servers]
        wait_for("both servers settled", lambda: all(s.settled() for s in sides), 180, every=0.1)
        return (time.perf_counter() - began) * 1000
    finally:
        for server in servers:
            server.stop()


def figure12(opts: Options) -> list[Row]:
    """verify.upgrade 2.42 -> 3.16 on the repo's config: wall time vs its floor."""
    interval = "2s" if opts.quick else "15s"
    interval_s = parse_duration(interval)
    folder = Path(tempfile.mkdtemp(prefix="promkit-bench-upgrade-"))
    ports = {job: free_port() for job in ("prometheus", "fastapi-app", "celery-workers")}
    kinds = {"prometheus": "app", "fastapi-app": "app", "celery-workers": "worker"}
    try:
        with (
            exporter(kinds["prometheus"], ports["prometheus"]) as own,
            exporter(kinds["fastapi-app"], ports["fastapi-app"]) as app,
            exporter(kinds["celery-workers"], ports["celery-workers"]) as worker,
        ):
            targets = {"prometheus": own, "fastapi-app": app, "celery-workers": worker}
            config_file = _config(folder / "config", targets, interval)
            argv = inv_argv(
                "verify.upgrade",
                *("--from", opts.prometheus, "--to", opts.prometheus3),
                *("--config", str(config_file), "--guide", str(GUIDE), "--timeout", "180"),
            )
            ran, floors = [], []
            for index in range(opts.green_runs):
                log(f"figure 12: run {index + 1}/{opts.green_runs}")
                at_phase(interval_s)
                floors.append(floor_ms((opts.prometheus, opts.prometheus3), config_file))
                at_phase(interval_s)
                ran.append(run_measured(argv, timeout=240))
                if ran[-1].exit_code != 0:
                    log(ran[-1].stdout[-2000:])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = wall_sample(ran)
    floor = Sample(tuple(floors), "ms")
    overhead = Sample(
        tuple(r.wall_ms - f for r, f in zip(ran, floors, strict=True) if r.exit_code == 0),
        "ms",
        total.red,
    )
    return [
        Row(
            f"12 `inv verify.upgrade` 2.42 -> 3.16 on the repo's config (scrapes every "
            f"{interval}) vs both servers started side by side until settled",
            total,
            floor,
        ),
        Row(
            "12 promkit's overhead: total - floor",
            overhead,
            "-",
            goal(overhead, "< 3 s", median_below(OVERHEAD_GOAL_MS)),
        ),
    ]


FIGURES = (Figure("12", "the upgrade rehearsal against its floor", figure12),)
