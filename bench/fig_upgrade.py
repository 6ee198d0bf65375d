"""Figure: the upgrade rehearsal's time to its verdict, against the floor it cannot beat.

``inv verify.upgrade --from`` Debian's 2.42 ``--to`` the 3.16 build, on the repo's
prometheus.yml and rule files (a copy whose static targets point at loopback exporters of
the sample service's metrics, tests/support/exporter.py, instead of the compose names;
``--quick``: scraping and evaluating every 2 s instead of 15 s) and the repo's metrics
guide. Its floor, measured in the same run: both servers started side by side until both
are ready, plus three scrape intervals (each target must be scraped three times).
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
from tests.support import PrometheusServer, free_port, inv_argv

CONFIG_DIR = ROOT / "config" / "prometheus"
OVERHEAD_GOAL_MS = 3000.0
SCRAPES = 3


def _config(folder: Path, targets: dict[str, str], interval: str) -> Path:
    """The repo's config and rules in ``folder``, its jobs scraping ``targets`` by job."""
    shutil.copytree(CONFIG_DIR, folder, dirs_exist_ok=True)
    path = folder / "prometheus.yml"
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rules(folder: Path) -> dict[str, str]:
    return {f"rules/{p.name}": p.read_text() for p in sorted(folder.glob("rules/*.rules.yml"))}


def start_floor_ms(binaries: tuple[str, str], config_file: Path) -> float:
    """Both servers started at once on the config: ms until both answer /-/ready."""
    config = yaml.safe_load(config_file.read_text())
    servers = [PrometheusServer(b, config, files=_rules(config_file.parent)) for b in binaries]
    began = time.perf_counter()
    try:
        for server in servers:
            server.start(wait_ready=False)
        for server in servers:
            server.wait_ready(60)
        return (time.perf_counter() - began) * 1000
    finally:
        for server in servers:
            server.stop()


def figure12(opts: Options) -> list[Row]:
    """verify.upgrade 2.42 -> 3.16 on the repo's config: wall time vs its floor."""
    interval = "2s" if opts.quick else "15s"
    interval_ms = parse_duration(interval) * 1000
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
                floors.append(
                    start_floor_ms((opts.prometheus, opts.prometheus3), config_file)
                    + SCRAPES * interval_ms
                )
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
            f"{interval}) vs both servers ready + {SCRAPES} scrape intervals",
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
