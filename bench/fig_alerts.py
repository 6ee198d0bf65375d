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

import yaml

from bench.common import Figure, Options, Row, Sample, goal, green_sample, log, median_below
from promkit.verify.alerts import route_timers
from promkit.verify.result import parse_time
from tests.support import env_without, inv_in_background, wait_for
from tests.support.alerting import EVALUATION_S, REPO_CONFIG, AlertChain, AlertSink

DETECTION_GOAL_MS = 1000.0
#: Seconds after Prometheus' start at which the gated Watchdog starts firing.
SETTLE_S = 10.0
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


def _alertmanagers_known(chain: AlertChain) -> bool:
    active = chain.prometheus.api("/api/v1/alertmanagers")["activeAlertmanagers"]
    return len(active) == len(chain.managers)


def _fire_on_a_running_server(chain: AlertChain) -> None:
    """The Watchdog gated to start firing SETTLE_S after Prometheus starts: by then its
    notifier knows both Alertmanagers (discovery hands them over within 5 s), so the alert
    is sent at the evaluation that makes it active, as on a server that has been running."""
    fires_at = time.time() + SETTLE_S
    watchdog = {
        "alert": WATCHDOG,
        "expr": f"vector(1) and on() (vector(time()) > {fires_at:.3f})",
        "labels": {"severity": "none"},
    }
    group = {"groups": [{"name": "bench-watchdog", "rules": [watchdog]}]}
    chain.prometheus.files = {"rules/watchdog.rules.yml": yaml.safe_dump(group)}
    chain.prometheus.start()
    wait_for("Prometheus knows both Alertmanagers", lambda: _alertmanagers_known(chain), 30)
    assert time.time() < fires_at, "Prometheus took too long to learn its Alertmanagers"


def one_run(index: int, running: bool) -> tuple[float, float, bool]:
    """One fresh chain: (delivery ms, detection ms, verify.alerts green). ``running``: the
    alert starts firing on a running server; else at a fresh server's first evaluation."""
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
        if running:
            _fire_on_a_running_server(chain)
        else:
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
    running = [one_run(i, running=True) for i in range(opts.slow_runs)]
    fresh = [one_run(i, running=False) for i in range(opts.slow_runs)]
    delivery = green_sample([(d, ok) for d, _, ok in running])
    first = green_sample([(d, ok) for d, _, ok in fresh])
    detection = green_sample([(t, ok) for _, t, ok in running + fresh])
    timers = route_timers(REPO_CONFIG.read_text(), RECEIVER)
    floor_ms = (timers["group_wait"] + EVALUATION_S) * 1000
    floor = Sample((floor_ms,), "ms")
    return [
        Row(
            f"11 alert delivery: {WATCHDOG} starts firing on a running server: activeAt to "
            f"the sink, through 2 clustered Alertmanagers (evaluation every {EVALUATION_S}s)",
            delivery,
            floor,
            goal(delivery, "within group_wait + evaluation interval", median_below(floor_ms)),
        ),
        Row(
            "11   the same at a fresh server's first evaluation (its notifier learns the "
            "Alertmanagers from discovery first)",
            first,
            floor,
        ),
        Row(
            "11   promkit's detection: the sink's record to `inv verify.alerts --wait` green",
            detection,
            "0 (the sink has it)",
            goal(detection, "median < 1 s", median_below(DETECTION_GOAL_MS)),
        ),
    ]


FIGURES = (Figure("11", "alert delivery and promkit's detection of it", figure11),)
