"""What every figure shares: samples and the table, measured runs, a local Prometheus.

Nothing here asserts: a figure is a measurement, printed beside its baseline.
Processes, HTTP and waits are tests/support's: every process started is stopped on
exit, every wait has a deadline.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import (
    Exporter,
    MissingBinary,
    PrometheusServer,
    active_targets,
    config,
    run,
    scrape_config,
)

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
GUIDE = ROOT / "docs" / "operations" / "metrics-guide.md"
#: GNU time (Debian's package `time`) reports a command's own peak memory.
GNU_TIME = "/usr/bin/time"


# -- what a figure is given, and what it is ------------------------------------------


@dataclass(frozen=True)
class Options:
    """What every figure may read: the Prometheus binaries, its repeats and sizes."""

    #: Debian's Prometheus 2.42 (figures 1, 2, 4, 9).
    prometheus: str
    #: The 3.16 build with its web UI (figures 8 and 9).
    prometheus3: str
    #: Repeats of the fast figures (1, 5).
    runs: int = 20
    #: Repeats of the slow ones (2, 4, 8, 9).
    slow_runs: int = 5
    #: Repeats of the deploy-to-green ones (3, 6, 7).
    green_runs: int = 3
    #: Figure 4's target counts.
    targets: tuple[int, ...] = (1000, 10_000)
    #: Figure 8's annotated pods.
    pods: int = 1000
    #: Figure 2's scrape interval.
    interval: str = "15s"
    #: Every figure once at small sizes (--quick): does the bench still run?
    quick: bool = False


@dataclass(frozen=True)
class Figure:
    """One figure of docs/performance.md: its number, what it shows, how it is measured."""

    number: str
    title: str
    measure: Callable[[Options], list[Row]]


# -- samples and the table ---------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Repeated measurements of one thing, in ``unit``: of the green runs only, and how
    many runs were red (left out of the values, the median and any goal)."""

    values: tuple[float, ...]
    unit: str = "ms"
    red: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def __str__(self) -> str:
        red = f", {self.red} red left out" if self.red else ""
        if not self.values:
            return f"no green run ({self.red} red)" if self.red else "-"
        if len(self.values) == 1:
            return f"{_num(self.values[0])} {self.unit}" + (f" ({red[2:]})" if red else "")
        low, high = _num(min(self.values)), _num(max(self.values))
        return f"{_num(self.median)} {self.unit} ({low}-{high}, n={len(self.values)}{red})"


def _num(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def sample(values: Sequence[float], unit: str = "ms", red: int = 0) -> Sample:
    return Sample(tuple(values), unit, red)


def green_sample(runs: Sequence[tuple[float, bool]], unit: str = "ms") -> Sample:
    """The values of the green runs of ``(value, green)`` pairs; the red ones counted."""
    return Sample(tuple(v for v, green in runs if green), unit, sum(1 for _, g in runs if not g))


def wall_sample(ran: Sequence[Ran]) -> Sample:
    """The wall times of the processes that exited 0; the others counted as red."""
    return green_sample([(r.wall_ms, r.exit_code == 0) for r in ran])


@dataclass(frozen=True)
class Row:
    """One line of the table: what promkit did, beside its baseline or floor."""

    figure: str
    promkit: Sample | str
    baseline: Sample | str = "-"
    goal: str = ""
    ratio: str = ""

    def cells(self) -> tuple[str, str, str, str, str]:
        ratio = self.ratio or _ratio(self.promkit, self.baseline)
        return (self.figure, str(self.promkit), str(self.baseline), ratio or "-", self.goal)


def _ratio(ours: Sample | str, base: Sample | str) -> str:
    if isinstance(ours, Sample) and isinstance(base, Sample) and ours.values and base.values:
        return f"{ours.median / base.median:.2f}" if base.median else ""
    return ""


HEADERS = ("FIGURE", "PROMKIT", "BASELINE OR FLOOR", "RATIO", "GOAL")


def table(rows: Sequence[Row]) -> str:
    """The rows as aligned plain text, medians with (min-max, n) beside each."""
    cells = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (for docs/performance.md)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        cells = [cell.replace("|", "\\|") for cell in row.cells()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goal(ours: Sample, text: str, met: Callable[[Sample], bool]) -> str:
    """The verdict of ``text`` on ``ours``' green runs only, saying how many were red."""
    if not ours.values:
        return f"{text}: not judged, no green run"
    verdict = f"{text}: {'met' if met(ours) else 'MISSED'}"
    return verdict + (f" (green runs only, {ours.red} red)" if ours.red else "")


def median_below(limit: float) -> Callable[[Sample], bool]:
    return lambda ours: ours.median < limit


def log(message: str) -> None:
    """Progress on stderr, so the table on stdout stays clean."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- timing processes ----------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """One finished process: exit code, wall time, peak memory, output."""

    exit_code: int
    wall_ms: float
    max_rss_mb: float
    stdout: str


def run_measured(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> Ran:
    """Run ``argv`` from the repository root; its wall time and its own peak RSS."""
    if not os.access(GNU_TIME, os.X_OK):
        raise RuntimeError(f"{GNU_TIME} not found: apt-get install time (it measures peak memory)")
    with tempfile.NamedTemporaryFile(prefix="promkit-bench-rss-") as rss:
        # GNU time waits for the command (wait4) and writes its max RSS, in KiB, to a file
        # of its own: the command's output stays apart.
        measured = [GNU_TIME, "--format=%M", f"--output={rss.name}", *argv]
        started = time.perf_counter()
        done = run(measured, cwd=ROOT, env=env or os.environ, timeout=timeout)
        wall_ms = (time.perf_counter() - started) * 1000
        max_rss_kib = float(Path(rss.name).read_text().split()[-1])
    return Ran(done.returncode, wall_ms, max_rss_kib / 1024, done.output)


def timed_ms(action: Callable[[], object], runs: int) -> list[float]:
    """Wall times of ``runs`` calls of ``action``, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


# -- loopback servers ------------------------------------------------------------------


@contextmanager
def exporter(kind: str, port: int) -> Iterator[str]:
    """tests/support/exporter.py on 127.0.0.1:port; yields its address."""
    running = Exporter(kind, port=port)
    try:
        yield running.address
    finally:
        running.stop()


def prometheus_config(
    jobs: Mapping[str, Sequence[str]], interval: str = "15s"
) -> dict[str, object]:
    """A configuration scraping each job's static targets every ``interval``."""
    scrape = [scrape_config(job, *targets) for job, targets in jobs.items()]
    return config(*scrape, scrape=interval, evaluation=interval)


@contextmanager
def prometheus(
    binary: str,
    config: Mapping[str, object],
    ready_s: float = 60.0,
    files: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """A real Prometheus on a free loopback port with its own TSDB; yields its URL once ready.

    ``files``: further files beside its config (rule files), by relative path.
    """
    flags = ["--storage.tsdb.retention.time=30d"]
    server = PrometheusServer(binary, config, flags=flags, files=files or {})
    try:
        server.start(timeout=ready_s)
    except MissingBinary as exc:
        server.stop()
        raise RuntimeError(f"Prometheus did not start: {exc} (or pass --prometheus PATH)") from None
    except BaseException:
        server.stop()
        raise
    try:
        yield server.url
    finally:
        server.stop()


def all_scraped_up(url: str, count: int) -> bool:
    """True once ``count`` active targets exist and every one is up."""
    targets = active_targets(url)
    return len(targets) == count and all(t["health"] == "up" for t in targets)
