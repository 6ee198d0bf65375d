"""What every figure shares: samples and the table, processes, a local Prometheus.

Nothing here asserts: a figure is a measurement, printed beside its baseline.
Every process started here is stopped on exit; every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
EXPORTER = ROOT / "tests" / "integration" / "exporter.py"
GUIDE = ROOT / "docs" / "operations" / "metrics-guide.md"
RUNBOOK = ROOT / "bench" / "runbook-curl.sh"


# -- samples and the table ---------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Repeated measurements of one thing, in ``unit``."""

    values: tuple[float, ...]
    unit: str = "ms"

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def __str__(self) -> str:
        if not self.values:
            return "-"
        if len(self.values) == 1:
            return f"{_num(self.values[0])} {self.unit}"
        low, high = _num(min(self.values)), _num(max(self.values))
        return f"{_num(self.median)} {self.unit} ({low}-{high}, n={len(self.values)})"


def _num(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def sample(values: Sequence[float], unit: str = "ms") -> Sample:
    return Sample(tuple(values), unit)


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


def goal(met: bool, text: str) -> str:
    return f"{text}: {'met' if met else 'MISSED'}"


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
    """Run ``argv`` from the repository root; its wall time and its own peak RSS (wait4)."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv), cwd=ROOT, env=dict(env or os.environ), stdout=out, stderr=out
        )
        # A blocking wait4 gives the exact end and this child's own rusage; the timer
        # bounds it.
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall_ms = (time.perf_counter() - started) * 1000
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    # Linux reports ru_maxrss in KiB.
    return Ran(process.returncode, wall_ms, usage.ru_maxrss / 1024, text)


def timed_ms(action: Callable[[], object], runs: int) -> list[float]:
    """Wall times of ``runs`` calls of ``action``, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def inv_argv(*args: str) -> list[str]:
    """``inv ARGS`` as a user runs it, with this interpreter (the bench's environment)."""
    return [PYTHON, "-m", "invoke", *args]


# -- loopback servers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str, timeout: float = 5.0) -> Any:
    """The JSON ``data`` of a Prometheus API answer."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)["data"]


def http_status(url: str, timeout: float = 1.0) -> int:
    """The status of a GET, 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def stop(process: subprocess.Popen[Any]) -> None:
    """Terminate ``process`` (kill it if it lingers) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def exporter(kind: str, port: int) -> Iterator[str]:
    """tests/integration/exporter.py on 127.0.0.1:port; yields its address."""
    argv = [PYTHON, str(EXPORTER), "--kind", kind, "--port", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"exporter {kind} did not start: {line!r}")
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


def prometheus_config(
    jobs: Mapping[str, Sequence[str]], interval: str = "15s"
) -> dict[str, object]:
    """A configuration scraping each job's static targets every ``interval``."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(targets)}]}
            for job, targets in jobs.items()
        ],
    }


@contextmanager
def prometheus(binary: str, config: Mapping[str, object], ready_s: float = 60.0) -> Iterator[str]:
    """A real Prometheus on a free loopback port with its own TSDB; yields its URL once ready."""
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise SystemExit(
            f"Prometheus binary {binary} not found: apt-get install prometheus, or pass "
            "--prometheus PATH (PROMKIT_PROMETHEUS_BIN)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="promkit-bench-"))
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(dict(config)))
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        "--storage.tsdb.retention.time=30d",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--log.level=warn",
    ]
    with open(workdir / "prometheus.log", "wb") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: http_status(url + "/-/ready") == 200, ready_s, f"{url} ready")
        yield url
    finally:
        stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def wait_for(
    condition: Callable[[], bool], timeout_s: float, what: str, every: float = 0.02
) -> float:
    """Poll ``condition`` until true; seconds it took, RuntimeError at the deadline."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise RuntimeError(f"gave up waiting {timeout_s:g}s for {what}")
        time.sleep(every)
    return time.monotonic() - start


def active_targets(url: str) -> list[dict[str, Any]]:
    """Prometheus' active targets, as its API gives them."""
    targets = http_json(f"{url}/api/v1/targets?state=active", timeout=10.0)["activeTargets"]
    return list(targets)


def all_scraped_up(url: str, count: int) -> bool:
    """True once ``count`` active targets exist and every one is up."""
    targets = active_targets(url)
    return len(targets) == count and all(t["health"] == "up" for t in targets)
