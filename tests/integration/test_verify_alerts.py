"""verify.alerts on the real chain: Prometheus 3 with the repo's rules, two clustered
Alertmanagers with the repo's alertmanager.yml, and the sample alert sink.

Green end to end; each break named where it is (the sink down, a wrong route, Alertmanager
stopped); a sink answering 500 for a while gets the Watchdog after it recovers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promkit.verify.alerts import metric_sum
from tests.support.alerting import AlertChain, AlertSink
from tests.support.poll import wait_for
from tests.support.web import get

pytestmark = pytest.mark.integration


def verify(it: Any, chain: AlertChain, tmp_path: Path, *extra: str) -> tuple[int, str, Any]:
    """``inv verify.alerts`` on the chain: exit code, output, the JSON report's rows by name."""
    report = tmp_path / "alerts.json"
    done = it.inv(
        "verify.alerts",
        "--url",
        chain.prometheus.url,
        "--alertmanager",
        chain.managers[0].url,
        "--sink",
        chain.sink.url,
        "--json",
        str(report),
        *extra,
        timeout=120,
    )
    rows = {}
    if report.exists():
        rows = {r["name"]: r for r in json.loads(report.read_text())["results"]}
    return done.returncode, done.output, rows


def watchdog_arrived(chain: AlertChain, receiver: str = "watchdog") -> list[Any]:
    return [
        n
        for n in chain.sink.notifications()["notifications"]
        if n["receiver"] == receiver and "Watchdog" in n["alertnames"]
    ]


def started(sink: AlertSink, edit: Any = None) -> Iterator[AlertChain]:
    chain = AlertChain.start(sink, edit)
    try:
        yield chain
    finally:
        print(chain.logs())  # shown by pytest only when a test failed
        chain.stop()


@pytest.fixture
def chain() -> Iterator[AlertChain]:
    yield from started(AlertSink())


def test_green_end_to_end(it: Any, chain: AlertChain, tmp_path: Path) -> None:
    code, output, rows = verify(it, chain, tmp_path, "--wait", "40")
    assert code == 0, output
    assert set(rows) == {
        "alertmanagers",
        "notification errors",
        "alertmanager",
        "delivery",
        "quiet",
    }
    assert all(r["ok"] for r in rows.values()), output
    assert len(chain.managers[0].status()["cluster"]["peers"]) == 2
    assert "peer" in " ".join(rows["alertmanager"]["evidence"])
    arrived = watchdog_arrived(chain)
    assert arrived, chain.sink.notifications()
    assert arrived[0]["status"] == "firing" and arrived[0]["group_key"]
    metrics = get(chain.sink.url + "/metrics", timeout=5).text
    assert 'alert_sink_notifications_total{receiver="watchdog",status="firing"}' in metrics


def test_sink_down_is_named(it: Any, chain: AlertChain, tmp_path: Path) -> None:
    wait_for("the Watchdog at the sink", lambda: watchdog_arrived(chain), 40)
    chain.sink.stop()
    code, output, rows = verify(it, chain, tmp_path)
    assert code == 1, output
    assert not rows["delivery"]["ok"]
    assert "sink not answering" in " ".join(rows["delivery"]["evidence"]), output


def test_alertmanager_stopped_is_named(it: Any, chain: AlertChain, tmp_path: Path) -> None:
    wait_for("the Watchdog at the sink", lambda: watchdog_arrived(chain), 40)
    for manager in chain.managers:
        manager.stop()
    code, output, rows = verify(it, chain, tmp_path)
    assert code == 1, output
    assert not rows["alertmanager"]["ok"], output
    [line] = rows["alertmanager"]["evidence"]
    assert line.startswith(f"Alertmanager at {chain.managers[0].url}: nothing answers"), line


def _misroute_watchdog(config: dict[str, Any]) -> None:
    """The Watchdog's route matches a misspelt name: the alert falls to `default`."""
    config["route"]["routes"][0]["matchers"] = ['alertname="WatchDog"']


@pytest.fixture
def misrouted() -> Iterator[AlertChain]:
    yield from started(AlertSink(), _misroute_watchdog)


def test_wrong_route_is_named(it: Any, misrouted: AlertChain, tmp_path: Path) -> None:
    wait_for(
        "the Watchdog at the default receiver", lambda: watchdog_arrived(misrouted, "default"), 60
    )
    code, output, rows = verify(it, misrouted, tmp_path)
    assert code == 1, output
    evidence = " ".join(rows["delivery"]["evidence"])
    assert "Alertmanager not routing: it sends Watchdog to default, not watchdog" in evidence


@pytest.fixture
def flaky() -> Iterator[AlertChain]:
    yield from started(AlertSink(fail_for=30))


@pytest.mark.slow(
    reason="the sink answers 500 for 30s by design, past the 17s delivery budget, then recovers"
)
def test_sink_failing_for_a_while_gets_it_after_recovery(
    it: Any, flaky: AlertChain, tmp_path: Path
) -> None:
    wait_for("a refused notification", lambda: flaky.sink.notifications()["refused"], 30)
    assert not watchdog_arrived(flaky)
    arrived = wait_for("the Watchdog after the sink recovered", lambda: watchdog_arrived(flaky), 60)
    refused_until = flaky.sink.notifications()["started_at"] + 30
    assert arrived[0]["received_at"] >= refused_until
    metrics = get(flaky.managers[0].url + "/metrics", timeout=5).text
    assert metric_sum(metrics, "alertmanager_notifications_failed_total", integration="webhook")
    code, output, rows = verify(it, flaky, tmp_path, "--wait", "30")
    assert code == 0, output
    assert "the first came late" in " ".join(rows["delivery"]["evidence"]), output


def test_check_alerts_runs_every_row_through_amtool(it: Any, tmp_path: Path) -> None:
    junit = tmp_path / "alerts.xml"
    done = it.inv("check.alerts", "--junit", str(junit))
    assert done.returncode == 0, done.output
    rows = [line for line in done.output.splitlines() if line.startswith(("ok ", "FAIL "))]
    assert len(rows) == 6 and all(r.startswith("ok ") for r in rows), done.output
    assert 'tests="7" failures="0"' in junit.read_text()
    table = tmp_path / "routes.yml"
    table.write_text(
        "- labels: {alertname: Watchdog, severity: none}\n  receivers: [pager]\n"
        "- labels: {alertname: TargetDown, severity: critical}\n  receivers: [pager]\n"
    )
    done = it.inv("check.alerts", "--routes", str(table), "--junit", str(junit))
    assert done.returncode == 1, done.output
    assert "FAIL alertname=Watchdog,severity=none -> watchdog, expected pager" in done.output
    assert "ok   alertname=TargetDown,severity=critical -> pager" in done.output
    assert 'tests="3" failures="1"' in junit.read_text()
