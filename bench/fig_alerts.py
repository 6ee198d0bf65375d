"""Figure: how long an alert takes to reach a person, and how soon promkit sees it arrive.

The real chain of tests/support/alerting.py on loopback: the sample alert sink, two
clustered Alertmanagers with the repo's alertmanager.yml, and Prometheus 3 with the repo's
rules, evaluating every 2 s. ``inv verify.alerts --wait`` is started *before* Prometheus
(it waits while nothing answers), then Prometheus; per run:

- delivery: the Watchdog's ``activeAt`` (Prometheus' /api/v1/alerts) to the moment the sink
  recorded its first notification (its own ``received_at``), against the floor the route
  allows, ``group_wait`` (read from the repo's config) + one evaluation interval;
- detection: from the sink's record to verify.alerts' exit with a green verdict (the wall
  clock of this machine, which both share). Goal: < 1 s.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench.common import Figure, Options, Row, Sample, goal, green_sample, log, median_below
from promkit.verify.alerts import route_timers
from promkit.verify.result import parse_time
from tests.support import env_without, inv_in_background, wait_for
from tests.support.alerting import EVALUATION_S, REPO_CONFIG, AlertChain, AlertSink

DETECTION_GOAL_MS = 1000.0
WATCHDOG = "Watchdog"
RECEIVER = "watchdog"


def _active_at(chain: AlertChain) -> float | None:
    """When Prometheus says the Watchdog became active (epoch seconds), if it is firing."""
    alerts = chain.prometheus.api("/api/v1/alerts")["alerts"]
    for alert in alerts:
        if alert["labels"].get("alertname") == WATCHDOG and alert["state"] == "firing":
            when = parse_time(alert.get("activeAt"))
            return when.timestamp() if when else None
    return None


def _first_received(chain: AlertChain) -> float | None:
    notes = [
        float(n["received_at"])
        for n in chain.sink.notifications()["notifications"]
        if n["receiver"] == RECEIVER and WATCHDOG in n["alertnames"]
    ]
    return min(notes) if notes else None


def one_run(index: int) -> tuple[float, float, bool]:
    """One fresh chain: (delivery ms, detection ms, verify.alerts green)."""
    chain = AlertChain.start(AlertSink(), with_prometheus=False)
    logdir = Path(tempfile.mkdtemp(prefix="promkit-bench-alerts-"))
    try:
        argv = [
            "verify.alerts",
            *("--url", chain.prometheus.url, "--alertmanager", chain.managers[0].url),
            *("--sink", chain.sink.url, "--wait", "90"),
        ]
        verify = inv_in_background(logdir, *argv, env=env_without("PROMKIT_", "INVOKE_"))
        # verify.alerts is in its loop (Prometheus unreachable: "not yet", its "waiting"
        # line on stderr) before Prometheus starts.
        err = logdir / "inv.err"
        wait_for(
            "verify.alerts waiting", lambda: err.is_file() and "waiting" in err.read_text(), 30
        )
        chain.prometheus.start()
        done = verify.wait(120)
        verdict_at = time.time()
        received = _first_received(chain)
        active = _active_at(chain)
        green = done.returncode == 0 and received is not None and active is not None
        log(f"figure 11: run {index + 1}: verify.alerts exit {done.returncode}")
        if not green:
            log(done.stdout[-2000:] + done.stderr[-2000:])
            return 0.0, 0.0, False
        assert received is not None and active is not None
        return (received - active) * 1000, (verdict_at - received) * 1000, True
    finally:
        chain.stop()
        shutil.rmtree(logdir, ignore_errors=True)


def figure11(opts: Options) -> list[Row]:
    """Watchdog activeAt to the sink, and the sink's record to promkit's green verdict."""
    runs = [one_run(i) for i in range(opts.slow_runs)]
    delivery = green_sample([(d, ok) for d, _, ok in runs])
    detection = green_sample([(t, ok) for _, t, ok in runs])
    timers = route_timers(REPO_CONFIG.read_text(), RECEIVER)
    floor_ms = (timers["group_wait"] + EVALUATION_S) * 1000
    floor = Sample((floor_ms,), "ms")
    return [
        Row(
            f"11 alert delivery: {WATCHDOG} activeAt to the sink, through 2 clustered "
            f"Alertmanagers (evaluation every {EVALUATION_S}s)",
            delivery,
            floor,
            goal(delivery, "within group_wait + evaluation interval", median_below(floor_ms)),
        ),
        Row(
            "11   promkit's detection: the sink's record to `inv verify.alerts --wait` green",
            detection,
            "0 (the sink has it)",
            goal(detection, "median < 1 s", median_below(DETECTION_GOAL_MS)),
        ),
    ]


FIGURES = (Figure("11", "alert delivery and promkit's detection of it", figure11),)
