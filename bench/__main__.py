"""`python -m bench [--only 1,4] [--quick] [--markdown [FILE]]`: run the figures, print one table.

Progress goes to stderr, the table to stdout. A figure that cannot run here (no Docker,
not root) says why in its row; one that errors (an exception, a server that did not
start) says so in its row, the others still run, and the exit code is 1. A red verify
run inside a figure is no error: it is counted as red and left out of the medians and
goal verdicts. Nothing is asserted of the values: these are measurements.

A figure is added by writing a module bench/fig_NAME.py whose ``FIGURES`` is a tuple of
``bench.common.Figure(number, title, measure)``, ``measure(Options) -> list[Row]``, and
putting the module in ``MODULES`` below (and a ``<!-- bench:figN -->`` block in
docs/performance.md for --markdown to fill).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import sys
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from types import ModuleType

import sh

from bench import (
    fig_alerts,
    fig_discovery,
    fig_green,
    fig_k8s,
    fig_report,
    fig_scale,
    fig_serve,
    fig_startup,
    fig_upgrade,
    fig_verify,
)
from bench.common import ROOT, Figure, Options, Row, log, markdown, table
from tests.support import run

#: Every module of figures, each with its ``FIGURES``; the figures run in number order.
MODULES: tuple[ModuleType, ...] = (
    fig_verify,
    fig_green,
    fig_scale,
    fig_startup,
    fig_k8s,
    fig_discovery,
    fig_report,
    fig_serve,
    fig_alerts,
    fig_upgrade,
)

DOC = ROOT / "docs" / "performance.md"
PROMETHEUS3 = "/var/cache/promkit/prometheus-3.16.0-ui/prometheus"
#: --quick: every figure once, at small sizes (does the bench still run?).
QUICK = {
    "runs": 1,
    "slow_runs": 1,
    "green_runs": 1,
    "targets": (100,),
    "pods": 100,
    "interval": "2s",
}


def figures() -> list[Figure]:
    found: list[Figure] = [figure for module in MODULES for figure in module.FIGURES]
    return sorted(found, key=lambda figure: int(figure.number))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    known = [figure.number for figure in figures()]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--only", default=",".join(known), help="figures to run, e.g. 1,4")
    parser.add_argument(
        "--prometheus",
        default=os.environ.get("PROMKIT_PROMETHEUS_BIN", "/usr/bin/prometheus"),
        help="Debian's Prometheus 2.42, of figures 1, 2, 4 and 9",
    )
    parser.add_argument(
        "--prometheus3",
        default=os.environ.get("PROMKIT_PROMETHEUS3_BIN", PROMETHEUS3),
        help="the Prometheus 3.16 build with its UI, of figures 8 and 9",
    )
    parser.add_argument("--runs", type=int, default=20, help="repeats of figures 1 and 5")
    parser.add_argument("--slow-runs", type=int, default=5, help="repeats of figures 2, 4, 8, 9")
    parser.add_argument("--green-runs", type=int, default=3, help="repeats of figures 3, 6, 7")
    parser.add_argument("--targets", default="1000,10000", help="figure 4's target counts")
    parser.add_argument("--pods", type=int, default=1000, help="figure 8's annotated pods")
    parser.add_argument("--interval", default="15s", help="figure 2's scrape interval")
    parser.add_argument(
        "--quick", action="store_true", help="every figure once at small sizes (CI's bench_quick)"
    )
    parser.add_argument(
        "--lanes",
        type=int,
        default=1,
        help="run the figures in this many lanes side by side (those sharing the compose "
        "project or the cluster stay in one lane); their values are then not comparable, "
        "so only with --quick",
    )
    parser.add_argument(
        "--markdown",
        nargs="?",
        const=str(DOC),
        metavar="FILE",
        help="also write each figure's table into FILE's <!-- bench:figN --> block "
        "(default docs/performance.md)",
    )
    args = parser.parse_args(argv)
    args.only = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = set(args.only) - set(known)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}: choose from {', '.join(known)}")
    if not (1 <= args.runs <= 200 and 1 <= args.slow_runs <= 50 and 1 <= args.green_runs <= 20):
        parser.error("--runs must be 1-200, --slow-runs 1-50, --green-runs 1-20")
    try:
        args.targets = tuple(int(n) for n in args.targets.split(",") if n.strip())
    except ValueError:
        parser.error("--targets must be counts from 1 to 10000, e.g. 1000,10000")
    if not all(1 <= n <= 10_000 for n in args.targets) or not 10 <= args.pods <= 5000:
        parser.error("--targets must be counts from 1 to 10000, --pods 10-5000")
    if args.quick and args.markdown:
        parser.error("--quick measures too little for docs/performance.md: leave out --markdown")
    if not 1 <= args.lanes <= 4 or (args.lanes > 1 and not args.quick):
        parser.error("--lanes must be 1-4, and above 1 only with --quick (lanes disturb values)")
    return args


def options(args: argparse.Namespace) -> Options:
    given = Options(
        prometheus=args.prometheus,
        prometheus3=args.prometheus3,
        runs=args.runs,
        slow_runs=args.slow_runs,
        green_runs=args.green_runs,
        targets=args.targets,
        pods=args.pods,
        interval=args.interval,
    )
    return replace(given, quick=True, **QUICK) if args.quick else given  # type: ignore[arg-type]


# -- where and with what the figures were measured -----------------------------------------


def machine() -> str:
    """Cores and RAM of this machine, its CPU model and kernel, in a few words."""
    model, mem_gb = "unknown CPU", 0.0
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            lines = [line for line in cpuinfo if line.startswith("model name")]
        model = lines[0].split(":", 1)[1].strip() if lines else model
        with open("/proc/meminfo") as meminfo:
            mem_gb = int(meminfo.readline().split()[1]) / 1024 / 1024
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {mem_gb:.0f} GB RAM, Linux {os.uname().release}"


def prometheus_version(binary: str) -> str:
    """``2.42.0+ds`` from ``binary --version``, or why not."""
    try:
        done = run([binary, "--version"], timeout=10)
    except (OSError, sh.CommandNotFound):
        return f"not found at {binary}"
    match = re.search(r"version (\S+)", done.stdout + done.stderr)
    return match.group(1) if match else f"unknown ({binary})"


def versions(opts: Options) -> str:
    promkit = metadata.version("promkit")
    return (
        f"Prometheus {prometheus_version(opts.prometheus)} ({opts.prometheus}) and "
        f"{prometheus_version(opts.prometheus3)} ({opts.prometheus3}), "
        f"Python {sys.version.split()[0]}, promkit {promkit}"
    )


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


# -- running and writing ------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One figure's rows and the conditions it was measured in."""

    figure: Figure
    rows: list[Row]
    load_before: str
    load_after: str
    when: str
    errored: bool
    seconds: float


def measure(figure: Figure, opts: Options) -> Measured:
    """Run one figure; an exception is its error row (traceback on stderr), not the end."""
    log(f"figure {figure.number}: {figure.title}")
    before, when = load(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    errored, started = False, time.monotonic()
    try:
        rows = figure.measure(opts)
    except Exception as exc:  # any failure of one figure is its row, not the bench's end
        traceback.print_exc(file=sys.stderr)
        rows = [Row(f"{figure.number} ERROR (traceback on stderr)", f"error: {str(exc)[:160]}")]
        errored = True
    seconds = time.monotonic() - started
    log(f"figure {figure.number}: {'ERROR' if errored else 'done'} in {seconds:.0f} s")
    return Measured(figure, rows, before, load(), when, errored, seconds)


def block(measured: Measured, head: str, command: str) -> str:
    """The Markdown of one figure: when, where, with what, then its table."""
    number = measured.figure.number
    said = (
        f"Measured {measured.when} by `{command}` on {head}; load average (1/5/15 min) "
        f"{measured.load_before} before, {measured.load_after} after; "
        f"{measured.seconds / 60:.1f} min in all."
    )
    table_md = markdown(measured.rows)
    return f"<!-- bench:fig{number} -->\n{said}\n\n{table_md}\n<!-- /bench:fig{number} -->"


def write_markdown(path: Path, blocks: dict[str, str]) -> None:
    """Each figure's block replaces its <!-- bench:figN --> block in ``path`` (or ends it)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for number, new in blocks.items():
        pattern = re.compile(
            rf"<!-- bench:fig{number} -->.*?<!-- /bench:fig{number} -->", re.DOTALL
        )
        if pattern.search(text):
            text = pattern.sub(lambda _, new=new: new, text)  # type: ignore[misc]
        else:
            text = text.rstrip("\n") + f"\n\n### Figure {number}\n\n{new}\n"
    path.write_text(text, encoding="utf-8")


#: The figures that share a resource (the bench's compose project, the throwaway cluster
#: with a real node) and must run one after the other; every other figure has loopback
#: processes and folders of its own.
SHARED = {"3": "compose", "6": "compose", "7": "cluster"}
#: About how long each figure takes with --quick, in units of ~20 s (the rest: 1).
QUICK_COST = {"3": 4, "6": 4, "7": 6, "4": 2, "9": 2}


def lanes(selected: Sequence[Figure], count: int) -> list[list[Figure]]:
    """``selected`` split into at most ``count`` lanes of about equal --quick cost, the
    figures sharing a resource in one lane."""
    groups: dict[str, list[Figure]] = {}
    for figure in selected:
        groups.setdefault(SHARED.get(figure.number, figure.number), []).append(figure)

    def cost(group: Sequence[Figure]) -> int:
        return sum(QUICK_COST.get(figure.number, 1) for figure in group)

    split: list[list[Figure]] = [[] for _ in range(max(1, min(count, len(groups))))]
    for group in sorted(groups.values(), key=cost, reverse=True):
        min(split, key=cost).extend(group)
    return [sorted(lane, key=lambda figure: int(figure.number)) for lane in split]


def _measure_lane(lane: Sequence[Figure], opts: Options) -> list[Measured]:
    return [measure(figure, opts) for figure in lane]


def run_figures(selected: Sequence[Figure], opts: Options, count: int) -> list[Measured]:
    """Each figure measured: one after the other, or in ``count`` lanes side by side (each
    lane a process of its own, its figures in turn); in number order either way."""
    if count <= 1:
        return _measure_lane(selected, opts)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        futures = [pool.submit(_measure_lane, lane, opts) for lane in lanes(selected, count)]
        done = [measured for future in futures for measured in future.result()]
    return sorted(done, key=lambda measured: int(measured.figure.number))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    opts = options(args)
    head = f"{machine()}; {versions(opts)}"
    selected = [f for f in figures() if f.number in args.only]
    done = run_figures(selected, opts, args.lanes)
    print(f"Machine: {head}\n")
    print(table([row for measured in done for row in measured.rows]))
    if args.markdown:
        command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
        blocks = {m.figure.number: block(m, head, command.strip()) for m in done}
        write_markdown(Path(args.markdown), blocks)
        log(f"wrote figures {', '.join(blocks)} into {args.markdown}")
    errored = [m.figure.number for m in done if m.errored]
    if errored:
        log(f"figures {', '.join(errored)} errored (their rows say why)")
    return 1 if errored else 0


if __name__ == "__main__":
    raise SystemExit(main())
