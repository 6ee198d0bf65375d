"""verify.alerts' judges (promkit.verify.alerts) over answers of Prometheus 3.16,
Alertmanager 0.35 and the sample alert sink (tests/fixtures/alerting/, recorded from the
chain of tests/integration/test_verify_alerts.py), and check.alerts' offline parts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from promkit.core.errors import ValidationError
from promkit.core.settings import DEFAULTS, repo_path
from promkit.rules import alerting
from promkit.verify import alerts
from promkit.verify.alerts import AlertChain, Fetched
from sample_app.alert_sink import Sink

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerting"
REPO_CONFIG = repo_path(DEFAULTS["alerts"]["config"])


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def green() -> AlertChain:
    """The green chain as recorded; ``now`` a few seconds after its sink's last notification."""
    sink = recorded("sink-notifications")
    last = max(n["received_at"] for n in sink["notifications"])
    return AlertChain(
        alertmanager_url="http://127.0.0.1:9093",
        alertmanagers=recorded("prometheus-alertmanagers"),
        rules=recorded("prometheus-rules"),
        counters_before={"prometheus_notifications_errors_total{}": 0.0},
        counters_after={"prometheus_notifications_errors_total{}": 0.0},
        ready=Fetched("OK", status=200),
        status=Fetched(recorded("alertmanager-status")),
        am_alerts=Fetched(recorded("alertmanager-alerts")),
        am_metrics=Fetched('alertmanager_notifications_failed_total{integration="webhook"} 0\n'),
        sink=Fetched(sink),
        sink_url="http://127.0.0.1:9095",
        watchdog="Watchdog",
        watchdog_receiver="watchdog",
        always_firing=("Watchdog",),
        margin_s=15.0,
        now=datetime.fromtimestamp(last, UTC) + timedelta(seconds=3),
        sent={"prometheus_notifications_sent_total{}": 4.0},
    )


def by_name(chain: AlertChain) -> dict[str, Any]:
    return {r.name: r for r in alerts.judge(chain)}


def delivery_text(chain: AlertChain) -> tuple[bool, str]:
    result = alerts.check_delivery(chain)
    return result.ok, " ".join(result.evidence)


def test_the_recorded_green_chain_passes_every_row() -> None:
    rows = by_name(green())
    assert list(rows) == [
        "alertmanagers",
        "notification errors",
        "alertmanager",
        "delivery",
        "quiet",
    ]
    assert all(r.ok for r in rows.values()), rows
    assert any("peer" in line for line in rows["alertmanager"].evidence)


def test_the_watchdog_route_timers_come_from_the_served_config() -> None:
    served = alerts.served_config(green().status)
    assert alerts.route_timers(served, "watchdog") == {
        "group_wait": 0.0,
        "group_interval": 10.0,
        "repeat_interval": 60.0,
    }
    # A receiver no route names: Alertmanager's own defaults.
    assert alerts.route_timers(served, "nobody")["group_wait"] == 30.0


def test_a_dropped_or_missing_alertmanager_fails() -> None:
    dropped = {
        "activeAlertmanagers": [],
        "droppedAlertmanagers": [{"url": "http://x/api/v2/alerts"}],
    }
    result = alerts.check_alertmanagers(dropped)
    assert not result.ok
    assert "DROPPED http://x/api/v2/alerts" in result.evidence
    assert alerts.check_alertmanagers(recorded("prometheus-alertmanagers")).ok


def test_a_rising_error_counter_fails_naming_its_series() -> None:
    series = 'prometheus_notifications_errors_total{alertmanager="http://a/api/v2/alerts"}'
    result = alerts.check_notification_errors({series: 1.0}, {series: 3.0})
    assert not result.ok
    assert result.evidence == [f"{series} rose 1 -> 3 during the round"]
    assert alerts.check_notification_errors({series: 3.0}, {series: 3.0}).ok


def test_a_cluster_short_of_peers_fails() -> None:
    chain = green()
    status = recorded("alertmanager-status")
    status["cluster"]["peers"] = status["cluster"]["peers"][:1]
    result = alerts.check_alertmanager(replace(chain, status=Fetched(status)))
    assert not result.ok
    assert "the cluster has 1 peer(s), Prometheus sends to 2 Alertmanagers" in result.evidence


def test_an_alertmanager_not_ready_fails() -> None:
    chain = replace(green(), ready=Fetched("", status=503))
    assert not alerts.check_alertmanager(chain).ok
    down = replace(green(), ready=Fetched(error="nothing answers at http://127.0.0.1:9093"))
    assert "nothing answers" in alerts.check_alertmanager(down).evidence[0]


def _firing(rules: Any, name: str) -> Any:
    """The rules answer with alert ``name`` firing too."""
    rules = json.loads(json.dumps(rules))
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("name") == name:
                rule["state"] = "firing"
                rule["alerts"] = [{"labels": {"alertname": name}, "state": "firing"}]
    return rules


def test_quiet_fails_on_any_alert_beyond_the_always_firing() -> None:
    assert alerts.check_quiet(recorded("prometheus-rules"), ("Watchdog",)).ok
    result = alerts.check_quiet(_firing(recorded("prometheus-rules"), "TargetDown"), ("Watchdog",))
    assert not result.ok
    assert "firing beyond the always-on (Watchdog): TargetDown" in result.evidence


def _not_firing(rules: Any) -> Any:
    rules = json.loads(json.dumps(rules))
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("name") == "Watchdog":
                rule["state"], rule["alerts"] = "inactive", []
    return rules


def _no_notes(chain: AlertChain) -> AlertChain:
    sink = {**chain.sink.value, "notifications": []} if chain.sink else {}
    return replace(chain, sink=Fetched(sink))


def _misrouted(chain: AlertChain) -> AlertChain:
    held = json.loads(json.dumps(chain.am_alerts.value))
    for alert in held:
        alert["receivers"] = [{"name": "default"}]
    return replace(chain, am_alerts=Fetched(held))


@pytest.mark.parametrize(
    ("broken", "where"),
    [
        (lambda c: replace(c, rules=_not_firing(c.rules)), "rule not firing: "),
        (
            lambda c: replace(_no_notes(c), alertmanagers={"activeAlertmanagers": []}),
            "Prometheus not sending: it discovers no Alertmanager",
        ),
        (
            lambda c: replace(_no_notes(c), am_alerts=Fetched(error="nothing answers")),
            "Alertmanager not answering at http://127.0.0.1:9093: nothing answers",
        ),
        (
            lambda c: replace(_no_notes(c), am_alerts=Fetched([])),
            "Prometheus not sending: Alertmanager holds no Watchdog alert",
        ),
        (
            lambda c: _misrouted(_no_notes(c)),
            "Alertmanager not routing: it sends Watchdog to default, not watchdog",
        ),
        (
            lambda c: replace(
                _no_notes(c),
                am_metrics=Fetched(
                    'alertmanager_notifications_failed_total{integration="webhook",'
                    'reason="serverError",receiver_name="watchdog"} 4\n'
                ),
            ),
            "receiver failing: Alertmanager's webhooks failed 4 time(s)",
        ),
        (lambda c: replace(c, sink=Fetched(error="nothing answers")), "sink not answering at"),
        (_no_notes, "sink never called: Alertmanager routes Watchdog to watchdog"),
    ],
    ids=[
        "rule",
        "no-alertmanager",
        "am-down",
        "not-sent",
        "route",
        "receiver",
        "sink-down",
        "never",
    ],
)
def test_a_broken_chain_says_where(broken: Any, where: str) -> None:
    ok, text = delivery_text(broken(green()))
    assert not ok
    assert where in text


def test_delivery_passes_only_while_it_delivers_again() -> None:
    chain = green()
    notes = chain.sink.value["notifications"] if chain.sink else []
    active = alerts.firing_alerts(chain.rules)[0][1]["activeAt"]
    start = alerts.parse_time(active)
    assert start is not None
    late = start.timestamp() + 100  # far past group_wait 0 + interval 2s + margin 15s
    value = {
        **(chain.sink.value if chain.sink else {}),
        "notifications": [{**notes[0], "received_at": late}],
    }
    fresh = replace(chain, sink=Fetched(value), now=datetime.fromtimestamp(late + 5, UTC))
    ok, text = delivery_text(fresh)
    assert ok and "the first came late" in text, text
    stale = replace(fresh, now=datetime.fromtimestamp(late + 600, UTC))
    ok, text = delivery_text(stale)
    assert not ok and "none for 600s, one is due every 85s" in text, text
    # On time once, silent since: stale all the same.
    ok, text = delivery_text(replace(green(), now=green().now + timedelta(seconds=600)))
    assert not ok and "one is due every 85s" in text, text


def test_delivery_without_a_sink_is_not_proven() -> None:
    result = alerts.check_delivery(replace(green(), sink=None))
    assert not result.ok and "not proven: no sink" in result.evidence[0]


# --- check.alerts' offline parts --------------------------------------------------------------


def test_the_repo_config_names_only_declared_receivers() -> None:
    config = yaml.safe_load(REPO_CONFIG.read_text())
    assert alerting.undeclared_receivers(config) == []
    config["route"]["routes"][0]["receiver"] = "pagerr"
    [problem] = alerting.undeclared_receivers(config)
    assert "receiver 'pagerr', which receivers does not declare" in problem


def test_a_routing_table_row_without_receivers_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "routes.yml"
    table.write_text("- labels: {alertname: Watchdog}\n")
    with pytest.raises(ValidationError, match="row 1: needs labels"):
        alerting.load_routes(table)


def test_every_row_is_reported_and_in_the_junit() -> None:
    cases = alerting.load_routes(alerting.checkout_path(alerting.ROUTES, "test"))
    outcomes = [alerting.RouteOutcome(c, c.receivers) for c in cases]
    outcomes[0] = alerting.RouteOutcome(cases[0], ("default",))
    checked = alerting.AlertsChecked(REPO_CONFIG, [], outcomes)
    lines = alerting.report_lines(checked)
    assert lines[0] == "FAIL alertname=Watchdog,severity=none -> default, expected watchdog"
    assert lines[-1].endswith(f"routes {len(cases) - 1}/{len(cases)} as expected")
    xml = alerting.junit_xml(checked)
    assert f'tests="{len(cases) + 1}" failures="1"' in xml


# --- the sink --------------------------------------------------------------------------------


def test_the_sink_records_and_counts_and_refuses_while_failing() -> None:
    sink = Sink()
    payload = recorded("webhook-payload")
    note = sink.record("/hook/watchdog", payload)
    assert (note.receiver, note.status, note.alertnames) == ("watchdog", "firing", ["Watchdog"])
    assert note.group_key == payload["groupKey"]
    metrics = sink.metrics()
    assert 'alert_sink_notifications_total{receiver="watchdog",status="firing"} 1' in metrics
    assert "alert_sink_failing 0" in metrics
    sink.fail_for(30)
    assert sink.failing() and "alert_sink_failing 1" in sink.metrics()
    sink.fail_for(0)
    assert not sink.failing()
