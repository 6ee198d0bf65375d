"""Alerts reach a person, on the deployed compose stack: Prometheus -> two clustered
Alertmanagers -> the alert sink.

The module deploys its own stack (project promkit-alerting, Prometheus on 19490, the app on
18400, alertmanager-1/-2 on 19493/19496, the sink on 19495). `inv verify.all` is green with
the alert rows, naming both peers and the receiver; then the faults: the sink failing for
60 s loses nothing, one peer stopped does not stop delivery and, once it is back, nothing is
notified twice; a silence survives a restart of both peers (their data volumes).

Test alerts are posted to both peers, as Prometheus posts every alert to each
Alertmanager; each has an alertname of its own, so each is a group of its own (the default
route groups by alertname and job) and its notifications are counted at the sink by group.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import get, request
from tests.support.poll import wait_for
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

STACK = Stack("promkit-alerting", prometheus_port=19490, app_port=18400)
PEERS = ("alertmanager-1", "alertmanager-2")
SINK = STACK.url_of("alert-sink")
ALERT_ROWS = ("alertmanagers", "notification errors", "alertmanager", "delivery", "quiet")
#: Enough for a notification of the default route (group_wait 10s, group_interval 1m, the
#: second peer's 15s turn) and its retries: a deadline to poll against, not a timed assertion.
NOTIFIED_S = 150


@pytest.fixture(scope="module", autouse=True)
def deployed() -> Iterator[None]:
    STACK.remove()
    try:
        STACK.inv("deploy.local")
        yield
    finally:
        STACK.remove()


def rows_of(report: Path) -> dict[str, Any]:
    return {r["name"]: r for r in json.loads(report.read_text())["results"]}


def notifications() -> list[dict[str, Any]]:
    answer = get(f"{SINK}/notifications", timeout=5)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["notifications"])


def of(alertname: str, status: str = "firing") -> list[dict[str, Any]]:
    return [
        n
        for n in notifications()
        if alertname in n["alertnames"] and n["status"] == status and n["receiver"] == "default"
    ]


def alert(alertname: str, *, resolved: bool = False) -> dict[str, Any]:
    now = datetime.now(UTC)
    ends = now - timedelta(seconds=1) if resolved else now + timedelta(minutes=10)
    return {
        "labels": {"alertname": alertname, "job": "e2e-alerting", "severity": "info"},
        "annotations": {"summary": "a test alert of tests/e2e/test_alerting.py"},
        "endsAt": ends.isoformat(),
    }


def post_alerts(alerts: list[dict[str, Any]], peers: tuple[str, ...] = PEERS) -> None:
    """Send ``alerts`` to each of ``peers``, as Prometheus does."""
    for peer in peers:
        code, body = request("POST", f"{STACK.url_of(peer)}/api/v2/alerts", alerts)
        assert code == 200, (peer, code, body)


def cluster_peers(peer: str) -> int:
    answer = get(f"{STACK.url_of(peer)}/api/v2/status", timeout=5)
    if answer.status_code != 200:
        return 0
    cluster = answer.json()["cluster"]
    return len(cluster.get("peers") or []) if cluster.get("status") == "ready" else 0


def wait_clustered() -> None:
    for peer in PEERS:
        wait_for(f"{peer} ready with both peers", lambda p=peer: cluster_peers(p) == 2, 120, 1)


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def test_verify_all_is_green_with_the_alert_rows_naming_both_peers_and_the_receiver(
    tmp_path: Path,
) -> None:
    report = tmp_path / "all.json"
    STACK.inv("verify.all", "--wait", "120", "--json", str(report))
    rows = rows_of(report)
    assert set(ALERT_ROWS) <= set(rows), sorted(rows)
    assert all(rows[name]["ok"] for name in ALERT_ROWS), {n: rows[n] for n in ALERT_ROWS}
    seen = " ".join(rows["alertmanagers"]["evidence"])
    assert all(f"{peer}:9093" in seen for peer in PEERS), seen
    peers = [line for line in rows["alertmanager"]["evidence"] if line.startswith("peer ")]
    assert len(peers) == 2, rows["alertmanager"]["evidence"]
    assert "via watchdog" in " ".join(rows["delivery"]["evidence"])


def test_a_sink_failing_for_60s_gets_the_notification_after_it_recovers() -> None:
    code, _ = request("POST", f"{SINK}/fail?seconds=60")
    assert code == 200
    name = unique("E2ESinkFailing")
    post_alerts([alert(name)])
    refused = wait_for(
        "Alertmanager trying the failing sink's default hook",
        lambda: get(f"{SINK}/notifications").json()["refused"].get("/hook/default"),
        NOTIFIED_S,
        1,
    )
    assert refused >= 1 and not of(name), "nothing recorded while the sink answers 500"
    delivered = wait_for(f"{name} at the sink after it recovered", lambda: of(name), 240, 1)
    assert delivered[0]["alertnames"] == [name]
    status = get(f"{SINK}/notifications").json()
    assert status["failing"] is False


def test_delivery_continues_with_one_peer_stopped_and_nothing_is_notified_twice() -> None:
    STACK.compose("stop", "alertmanager-1")
    try:
        alone = unique("E2EOnePeer")
        post_alerts([alert(alone)], peers=("alertmanager-2",))
        wait_for(f"{alone} delivered by alertmanager-2 alone", lambda: of(alone), NOTIFIED_S, 1)
    finally:
        STACK.compose("start", "alertmanager-1")
    wait_clustered()
    names = [unique(f"E2ECycle{i}x") for i in range(3)]
    post_alerts([alert(name) for name in names])
    for name in names:
        wait_for(f"{name} firing at the sink", lambda n=name: of(n), NOTIFIED_S, 1)
    post_alerts([alert(name, resolved=True) for name in names])
    for name in names:
        wait_for(f"{name} resolved at the sink", lambda n=name: of(n, "resolved"), NOTIFIED_S, 1)
    # A resolved notification comes a group_interval (1m) after the firing one, long past
    # the second peer's turn (15s after the first's): a duplicate firing one would be here.
    counted = Counter(
        (n["group_key"], n["status"])
        for n in notifications()
        if set(n["alertnames"]) & {*names, alone}
    )
    assert len(counted) == 2 * len(names) + 1, counted
    assert set(counted.values()) == {1}, f"notified more than once: {counted}"


def silence_ids(peer: str, comment: str) -> list[str]:
    answer = get(f"{STACK.url_of(peer)}/api/v2/silences", timeout=5)
    if answer.status_code != 200:
        return []
    return [
        s["id"]
        for s in answer.json()
        if s["comment"] == comment and s["status"]["state"] == "active"
    ]


def test_a_silence_survives_a_restart_of_both_peers() -> None:
    comment = unique("e2e silence ")
    now = datetime.now(UTC)
    silence = {
        "matchers": [{"name": "alertname", "value": "E2ESilenced", "isRegex": False}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "tests/e2e/test_alerting.py",
        "comment": comment,
    }
    code, body = request("POST", f"{STACK.url_of('alertmanager-1')}/api/v2/silences", silence)
    assert code == 200, body
    made = body["silenceID"]
    wait_for("the silence gossiped to alertmanager-2", lambda: silence_ids(PEERS[1], comment), 60)
    STACK.compose("stop", *PEERS)
    STACK.compose("start", *PEERS)
    wait_clustered()
    for peer in PEERS:
        assert silence_ids(peer, comment) == [made], peer
