"""Benchmarks of the verification engine against a real, local Prometheus.

Prints medians (with min and max) of repeated runs, each beside its baseline:
  1. verify.all in-process, and `inv verify.all` as a user runs it, versus the
     runbook's way: one sequential curl per endpoint and per query (bench/runbook-curl.sh);
  2. the detection delay of --wait: from the moment Prometheus first reports a
     restarted target UP to the moment promkit reports green.
Nothing is asserted: these are figures. Traffic stays on 127.0.0.1, bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from promkit import prom, queries, settings, verify
from promkit.settings import Expectations, JobExpectation
from promkit.wait import wait_until_green

ROOT = Path(__file__).resolve().parents[1]
EXPORTER = ROOT / "tests" / "integration" / "exporter.py"
GUIDE = ROOT / "docs" / "operations" / "metrics-guide.md"
# One-second scrapes so a bench run takes seconds; the expectations follow.
EXPECT = Expectations(
    jobs=(JobExpectation("fastapi-app", 1), JobExpectation("celery-workers", 1)),
    scrape_interval="1s",
    evaluation_interval="1s",
    retention="30d",
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def exporter(kind: str, port: int) -> Iterator[str]:
    """A real exporter process on 127.0.0.1:port, stopped on exit."""
    argv = [sys.executable, str(EXPORTER), "--kind", kind, "--port", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def prometheus(binary: str, app: str, worker: str) -> Iterator[str]:
    """A real Prometheus scraping the two exporters every second; yields its URL."""
    workdir = Path(tempfile.mkdtemp(prefix="promkit-bench-"))
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "fastapi-app", "static_configs": [{"targets": [app]}]},
            {"job_name": "celery-workers", "static_configs": [{"targets": [worker]}]},
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    argv = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        "--storage.tsdb.retention.time=30d",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def client(url: str) -> prom.PrometheusClient:
    return prom.client_from_settings(settings.DEFAULTS["prometheus"], url)


def round_all(url: str) -> verify.Verification:
    return verify.run_round(verify.NAMES, client(url), EXPECT, GUIDE)


def timed(action: Callable[[], object], runs: int) -> list[float]:
    """Wall times of ``runs`` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def figure(name: str, ms: list[float], baseline: str, base_ms: list[float] | None) -> str:
    med = statistics.median(ms)
    text = f"{name:<46} {med:8.1f} ms  (min {min(ms):.1f}, max {max(ms):.1f}, n={len(ms)})"
    if base_ms:
        base = statistics.median(base_ms)
        text += f"\n{'  vs ' + baseline:<46} {base:8.1f} ms  ratio {med / base:.2f}"
    return text


def inv_verify_all(url: str) -> None:
    env = dict(os.environ)
    env.update(
        INVOKE_EXPECT_SCRAPE_INTERVAL="1s",
        INVOKE_EXPECT_EVALUATION_INTERVAL="1s",
    )
    argv = [sys.executable, "-m", "invoke", "verify.all", "--url", url]
    subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)


def curl_runbook(url: str) -> None:
    script = ROOT / "bench" / "runbook-curl.sh"
    exprs = [q.promql for q in queries.load_guide(GUIDE)]
    subprocess.run(["bash", str(script), url, *exprs], capture_output=True, check=True)


def target_health(url: str, job: str) -> str:
    path = f"{url}/api/v1/targets?state=active"
    with urllib.request.urlopen(path, timeout=2) as response:
        targets = json.load(response)["data"]["activeTargets"]
    return next((t["health"] for t in targets if t["labels"]["job"] == job), "absent")


def detection_delay(url: str, worker_port: int) -> float:
    """Seconds from Prometheus reporting a restarted target UP to promkit saying green."""
    deadline = time.monotonic() + 30
    while target_health(url, "celery-workers") == "up" and time.monotonic() < deadline:
        time.sleep(0.05)
    became_true: list[float] = []

    def watch() -> None:
        # Polls Prometheus' own view every 10 ms for 30 s at most.
        end = time.monotonic() + 30
        while time.monotonic() < end and target_health(url, "celery-workers") != "up":
            time.sleep(0.01)
        became_true.append(time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()
    with exporter("worker", worker_port):
        wait_until_green(lambda: verify.run_round(["targets"], client(url), EXPECT), 30.0)
        green = time.monotonic()
        watcher.join()
    return max(0.0, green - became_true[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--prometheus", default=os.environ.get("PROMKIT_PROMETHEUS_BIN", "/usr/bin/prometheus")
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--delays", type=int, default=5)
    args = parser.parse_args()
    app_port, worker_port = free_port(), free_port()
    with (
        exporter("app", app_port) as app,
        exporter("worker", worker_port) as worker,
        prometheus(args.prometheus, app, worker) as url,
    ):
        wait_until_green(lambda: round_all(url), 60.0)
        version = round_all(url).version
        print(f"Prometheus {version} ({args.prometheus}), {os.cpu_count()} cores\n")
        inproc = timed(lambda: round_all(url), args.runs)
        curl = timed(lambda: curl_runbook(url), args.runs)
        print(figure("verify.all (in-process round)", inproc, "runbook curls", curl))
        cli = timed(lambda: inv_verify_all(url), max(3, args.runs // 4))
        print(figure("inv verify.all (new process)", cli, "runbook curls", curl))
    with (
        exporter("app", app_port) as app,
        prometheus(args.prometheus, app, f"127.0.0.1:{worker_port}") as url,
    ):
        wait_until_green(lambda: verify.run_round(["health"], client(url), EXPECT), 60.0)
        delays = [detection_delay(url, worker_port) * 1000 for _ in range(args.delays)]
        print(figure("--wait detection delay (target restarts)", delays, "", None))


if __name__ == "__main__":
    main()
