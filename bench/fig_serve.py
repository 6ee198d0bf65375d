"""Figure: what ``promkit serve`` costs per round, and whether its memory stays flat.

``inv serve`` as a process of its own, rounds back to back (``--every 10ms``: each
round starts as soon as the one before ends, the missed ticks skipped), against a
recorded server (tests/support/recorded.py: a loopback server in this process
answering Prometheus 2.42's recorded API JSON, keeping connections open as Prometheus
does; its own work is not in the figure). Over N rounds (1000; quick: 50): the serve
process's CPU time (user + system, psutil) per round after a warm-up, and its RSS
sampled along the way.

Goals: under 20 ms of CPU per round, under 60 MB RSS, and flat (the last sample within
5 MB of the one after the warm-up).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families

from bench.common import Figure, Options, Row, Sample, goal, log, median_below, sample
from tests.support import env_without, free_port, inv_in_background, serving, wait_for
from tests.support.recorded import recorded_answers

CPU_GOAL_MS = 20.0
RSS_GOAL_MB = 60.0
FLAT_MB = 5.0
WARMUP_ROUNDS = 10


def rounds_run(metrics_url: str) -> int:
    """promkit_rounds_total as served (0 before the first round)."""
    text = requests.get(metrics_url, timeout=5).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "promkit_rounds_total":
                return int(s.value)
    return 0


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 1024 / 1024


def measure(rounds: int) -> tuple[list[float], list[float], float]:
    """CPU ms per round (one value per stretch between samples), RSS samples in MB, and
    the seconds of wall time per round."""
    port = free_port()
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    logdir = Path(tempfile.mkdtemp(prefix="promkit-bench-serve-"))
    with serving({"*": recorded_answers()}, keep_alive=True) as recorded:
        argv = ["serve", "--url", recorded.url, "--every", "10ms", "--listen", f"127.0.0.1:{port}"]
        serve = inv_in_background(logdir, *argv, env=env_without("PROMKIT_PROMETHEUS_", "INVOKE_"))
        try:
            process = psutil.Process(serve.pid)
            wait_for("the warm-up rounds", lambda: rounds_run(metrics_url) >= WARMUP_ROUNDS, 120)
            return _sample(process, metrics_url, rounds)
        finally:
            serve.stop(5)
            shutil.rmtree(logdir, ignore_errors=True)


def _sample(
    process: psutil.Process, metrics_url: str, rounds: int
) -> tuple[list[float], list[float], float]:
    cpu_ms: list[float] = []
    rss = [_rss_mb(process)]
    done, cpu, began = rounds_run(metrics_url), _cpu_s(process), time.monotonic()
    first = done
    step = max(5, rounds // 10)
    while done - first < rounds:
        target = min(first + rounds, done + step)
        wait_for(f"round {target}", lambda t=target: rounds_run(metrics_url) >= t, 600, every=0.5)  # type: ignore[misc]
        now_done, now_cpu = rounds_run(metrics_url), _cpu_s(process)
        cpu_ms.append((now_cpu - cpu) * 1000 / (now_done - done))
        rss.append(_rss_mb(process))
        progress = f"{now_done - first}/{rounds} rounds"
        log(f"serve: {progress}, {cpu_ms[-1]:.1f} ms CPU/round, RSS {rss[-1]:.1f} MB")
        done, cpu = now_done, now_cpu
    return cpu_ms, rss, (time.monotonic() - began) / (done - first)


def _flat_below(memory: Sample) -> bool:
    """Under the RSS goal at every sample, and the last within FLAT_MB of the first."""
    rss = memory.values
    return max(rss) < RSS_GOAL_MB and abs(rss[-1] - rss[0]) <= FLAT_MB


def figure10(opts: Options) -> list[Row]:
    """The serve figure: CPU per round and RSS over 1000 rounds (quick: 50)."""
    rounds = 50 if opts.quick else 1000
    cpu_ms, rss, wall_s = measure(rounds)
    per_round = sample(cpu_ms, "ms")
    memory = sample(rss, "MB")
    growth = rss[-1] - rss[0]
    return [
        Row(
            f"10 `promkit serve`: CPU per round ({rounds} rounds back to back, recorded server)",
            per_round,
            f"wall {wall_s * 1000:.0f} ms/round",
            goal(per_round, f"< {CPU_GOAL_MS:.0f} ms", median_below(CPU_GOAL_MS)),
        ),
        Row(
            f"10   RSS over {rounds} rounds (growth {growth:+.1f} MB)",
            memory,
            "-",
            goal(
                memory,
                f"< {RSS_GOAL_MB:.0f} MB, flat ±{FLAT_MB:.0f}",
                _flat_below,
            ),
        ),
    ]


FIGURES = (Figure("10", "promkit serve: CPU and memory per round", figure10),)
