"""Figure: the upgrade rehearsal's time to its verdict, against the floor it cannot beat.

``inv verify.upgrade --from`` Debian's 2.42 ``--to`` the 3.16 build, on the repo's
prometheus.yml and rule files (a copy whose static targets point at loopback exporters of
the sample service's metrics, tests/support/exporter.py, instead of the compose names;
``--quick``: scraping and evaluating every 2 s instead of 15 s) and the repo's metrics
guide. Its floor is read from promkit's own two servers while the command runs (their
ports are in the command lines it echoes): the moment both have scraped every target three
times and evaluated every rule group twice, as each server reports it, polled every 0.1 s.
That is what the rehearsal waits for before it compares, so no rehearsal can answer sooner;
read from the same servers, it is paired with the run. (Three scrape intervals after the
start would understate it: discovery hands the targets over up to 5 s after the start, and
each target's first scrape lands at its own offset of the interval, fixed to the wall
clock; servers started apart, even by a second, can differ by a whole interval.)
Goal: promkit's overhead over that floor < 3 s.
"""

from __future__ import annotations

import os
import re
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
    exporter,
    goal,
    green_sample,
    log,
    median_below,
)
from promkit.core.durations import parse_duration
from promkit.verify.rehearsal import EVALUATIONS, SCRAPES
from tests.support import active_targets, api_data, free_port, inv_in_background

CONFIG_DIR = ROOT / "config" / "prometheus"
OVERHEAD_GOAL_MS = 3000.0


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

    def __init__(self, url: str, groups: int) -> None:
        self.url, self.groups = url, groups
        self.evaluations: dict[str, set[str]] = {}

    def settled(self) -> bool:
        for group in api_data(self.url, "/api/v1/rules")["groups"]:
            last = group.get("lastEvaluation", "")
            if last and not last.startswith("0001-"):
                self.evaluations.setdefault(group["name"], set()).add(last)
        targets = active_targets(self.url)
        query = {"query": "count_over_time(up[1d])"}
        scraped = api_data(self.url, "/api/v1/query", query)["result"]
        return (
            bool(targets)
            and len(scraped) >= len(targets)
            and all(float(row["value"][1]) >= SCRAPES for row in scraped)
            and len(self.evaluations) >= self.groups
            and all(len(seen) >= EVALUATIONS for seen in self.evaluations.values())
        )


#: The rehearsal echoes each server's command line: "[upgrade] VERSION: ... PORT".
ECHOED = re.compile(r"^\[upgrade\] (\S+): .*--web\.listen-address=127\.0\.0\.1:(\d+)", re.M)


def _sides(out: Path, groups: int) -> dict[str, Settling]:
    text = out.read_text(errors="replace") if out.is_file() else ""
    return {
        version: Settling(f"http://127.0.0.1:{port}", groups)
        for version, port in ECHOED.findall(text)
    }


def paired_run(args: list[str], groups: int) -> tuple[float, float, int]:
    """``inv verify.upgrade`` in the background while the bench polls the two servers it
    started (every 0.1 s): (ms to its exit, ms until both its servers had settled, exit
    code). The floor is read from promkit's own servers, so it is paired with the run."""
    logdir = Path(tempfile.mkdtemp(prefix="promkit-bench-upgrade-run-"))
    began = time.perf_counter()
    # Unbuffered: the echoed command lines arrive as they are printed.
    verify = inv_in_background(logdir, *args, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        settled_at: float | None = None
        sides: dict[str, Settling] = {}
        last = "never both listed"
        while verify.alive:
            if settled_at is None:
                sides = {**_sides(logdir / "inv.out", groups), **sides}
                try:
                    # Every side polled every time: each must see every evaluation.
                    states = [side.settled() for side in sides.values()]
                    if len(states) == 2 and all(states):
                        settled_at = time.perf_counter()
                except (OSError, ValueError, KeyError, AssertionError) as exc:
                    last = f"{type(exc).__name__}: {exc}"[:300]
            time.sleep(0.1 if settled_at is None else 0.02)
        done = verify.wait(10)
        exited = time.perf_counter()
        if settled_at is None:
            raise RuntimeError(
                f"verify.upgrade ended before both servers settled ({last}; sides {sorted(sides)})"
            )
        return (exited - began) * 1000, (settled_at - began) * 1000, done.returncode
    finally:
        verify.stop(5)
        shutil.rmtree(logdir, ignore_errors=True)


def figure12(opts: Options) -> list[Row]:
    """verify.upgrade 2.42 -> 3.16 on the repo's config: wall time vs its floor."""
    interval = "2s" if opts.quick else "15s"
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
            args = [
                "verify.upgrade",
                *("--from", opts.prometheus, "--to", opts.prometheus3),
                *("--config", str(config_file), "--guide", str(GUIDE), "--timeout", "180"),
            ]
            groups = sum(
                len(yaml.safe_load(t)["groups"]) for t in _rules(config_file.parent).values()
            )
            runs = []
            for index in range(opts.green_runs):
                log(f"figure 12: run {index + 1}/{opts.green_runs}")
                runs.append(paired_run(args, groups))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = green_sample([(wall, code == 0) for wall, _, code in runs])
    floor = green_sample([(settled, code == 0) for _, settled, code in runs])
    overhead = green_sample([(wall - settled, code == 0) for wall, settled, code in runs])
    return [
        Row(
            f"12 `inv verify.upgrade` 2.42 -> 3.16 on the repo's config (scrapes every "
            f"{interval}) vs its own two servers settled",
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
