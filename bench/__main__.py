"""`python -m bench [--only 1,4] ...`: run the figures, print one table (stdout).

Progress goes to stderr. A figure that cannot run says why in its row; the others
still run. Nothing is asserted: these are measurements.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import traceback
from collections.abc import Callable

import sh

from bench import fig_discovery, fig_green, fig_k8s, fig_report, fig_scale, fig_startup, fig_verify
from bench.common import Row, log, markdown, table
from tests.support import run

FIGURES = ("1", "2", "3", "4", "5", "6", "7", "8", "9")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(FIGURES), help="figures to run, e.g. 1,4")
    parser.add_argument(
        "--prometheus",
        default=os.environ.get("PROMKIT_PROMETHEUS_BIN", "/usr/bin/prometheus"),
        help="the Prometheus binary of figures 1, 2, 4 and 9",
    )
    parser.add_argument("--runs", type=int, default=20, help="repeats of figures 1 and 5")
    parser.add_argument("--slow-runs", type=int, default=5, help="repeats of figures 2, 4, 8 and 9")
    parser.add_argument("--green-runs", type=int, default=3, help="repeats of figures 3, 6 and 7")
    parser.add_argument("--targets", default="1000,10000", help="figure 4's target counts")
    parser.add_argument("--interval", default="15s", help="figure 2's scrape interval")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    args = parser.parse_args(argv)
    args.only = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = set(args.only) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}: choose from {', '.join(FIGURES)}")
    if not (1 <= args.runs <= 200 and 1 <= args.slow_runs <= 50 and 1 <= args.green_runs <= 20):
        parser.error("--runs must be 1-200, --slow-runs 1-50, --green-runs 1-20")
    args.targets = [int(n) for n in args.targets.split(",") if n.strip()]
    if not all(1 <= n <= 10_000 for n in args.targets):
        parser.error("--targets must be counts from 1 to 10000")
    return args


def machine() -> str:
    """The machine the figures were measured on, in one line."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                model,
            )
        with open("/proc/meminfo") as meminfo:
            mem_gb = int(meminfo.readline().split()[1]) / 1024 / 1024
    except OSError:
        mem_gb = 0.0
    return (
        f"{os.cpu_count()} cores ({model}), {mem_gb:.0f} GB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def prometheus_version(binary: str) -> str:
    try:
        done = run([binary, "--version"], timeout=10)
    except (OSError, sh.CommandNotFound):
        return f"{binary} not found"
    return (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else "?"


def plan(args: argparse.Namespace) -> dict[str, Callable[[], list[Row]]]:
    binary = args.prometheus
    return {
        "1": lambda: fig_verify.figure1(binary, args.runs),
        "2": lambda: fig_verify.figure2(binary, args.slow_runs, args.interval),
        "3": lambda: fig_green.figure3(args.green_runs),
        "4": lambda: fig_scale.figure4(binary, args.targets, args.slow_runs),
        "5": lambda: fig_startup.figure5(args.runs),
        "6": lambda: fig_green.figure6(args.green_runs),
        "7": lambda: fig_k8s.figure7(args.green_runs),
        "8": lambda: fig_discovery.figure8(args.slow_runs),
        "9": lambda: fig_report.figure9(binary, args.slow_runs),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows: list[Row] = []
    for figure, measure in plan(args).items():
        if figure not in args.only:
            continue
        log(f"figure {figure}")
        try:
            rows += measure()
        except (RuntimeError, OSError, sh.ErrorReturnCode, sh.TimeoutException) as exc:
            traceback.print_exc(file=sys.stderr)
            rows.append(Row(f"{figure} failed (traceback above)", f"error: {str(exc)[:160]}"))
    head = f"Machine: {machine()}\nPrometheus: {prometheus_version(args.prometheus)}\n"
    print(head)
    print(table(rows))
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(head.replace("\n", "  \n") + "\n" + markdown(rows) + "\n")


if __name__ == "__main__":
    main()
