"""The alerting part of the compose stack, read from the files: two clustered Alertmanager
peers, the webhook sink, Prometheus sending to both; and verify.all adding the alert rows
only for a Prometheus that sends alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from promkit.core import settings
from promkit.core.settings import DEFAULTS, ROOT, repo_path
from promkit.local.stack import ALERTMANAGER_CONFIG_DIR_VAR, PORT_SETTINGS
from promkit.report import session
from promkit.verify.alert_round import with_alert_rows
from promkit.verify.alerts import sends_alerts
from promkit.verify.result import CheckResult, Verification
from tests.support.mockctx import promkit_config

COMPOSE = yaml.safe_load((ROOT / "compose" / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
PEERS = ("alertmanager-1", "alertmanager-2")
PROMETHEUS_CONFIG = yaml.safe_load(repo_path(DEFAULTS["compose"]["prometheus_config"]).read_text())
ALERTMANAGER_CONFIG = yaml.safe_load(repo_path(DEFAULTS["alerts"]["config"]).read_text())


def flags(service: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for arg in SERVICES[service]["command"]:
        name, _, value = arg.partition("=")
        found.setdefault(name, []).append(value)
    return found


def published(service: str) -> list[str]:
    return [str(p) for p in SERVICES[service].get("ports") or []]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_is_hardened(service: str) -> None:
    spec = SERVICES[service]
    assert spec["user"].split(":")[0] not in ("0", "root", "")
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"] and "cap_add" not in spec
    assert "no-new-privileges:true" in spec["security_opt"]
    assert all(port.startswith("127.0.0.1:") for port in published(service)), published(service)


def test_every_published_port_has_its_variable_and_setting() -> None:
    for service in SERVICES:
        for port in published(service):
            variable, _ = PORT_SETTINGS[service]
            assert f"${{{variable}:-" in port, (service, port)


def test_the_peers_cluster_with_each_other_each_with_its_own_volume() -> None:
    volumes = set()
    for peer, other in (PEERS, PEERS[::-1]):
        given = flags(peer)
        assert given["--cluster.peer"] == [f"{other}:9094"]
        assert given["--cluster.listen-address"] == ["0.0.0.0:9094"]
        assert given["--storage.path"] == ["/alertmanager"]
        mounts = SERVICES[peer]["volumes"]
        data = [m.split(":")[0] for m in mounts if m.endswith(":/alertmanager")]
        assert data and data[0] in COMPOSE["volumes"]
        volumes.add(data[0])
        config = f"${{{ALERTMANAGER_CONFIG_DIR_VAR}:-../config/alertmanager}}:/etc/alertmanager:ro"
        assert config in mounts
        assert "/-/ready" in " ".join(SERVICES[peer]["healthcheck"]["test"])
        assert "prom/alertmanager:v0.35.0" in SERVICES[peer]["image"]
    assert len(volumes) == 2, "each peer keeps its silences in a volume of its own"
    assert published("alertmanager-1") == ["127.0.0.1:${PROMKIT_ALERTMANAGER_PORT:-9093}:9093"]


def test_prometheus_sends_to_both_peers_and_starts_after_them() -> None:
    (manager,) = PROMETHEUS_CONFIG["alerting"]["alertmanagers"]
    targets = [t for c in manager["static_configs"] for t in c["targets"]]
    assert targets == [f"{peer}:9093" for peer in PEERS]
    assert set(PEERS) <= set(SERVICES["prometheus"]["depends_on"])
    assert sends_alerts(PROMETHEUS_CONFIG)


def test_every_receiver_posts_to_the_sink_service_on_its_port() -> None:
    sink = SERVICES["alert-sink"]
    port = sink["command"][sink["command"].index("--port") + 1]
    assert sink["image"] == SERVICES["app"]["image"], "the sink runs from the sample app image"
    assert f"127.0.0.1:${{PROMKIT_ALERT_SINK_PORT:-{port}}}:{port}" in published("alert-sink")
    hooks = [
        urlsplit(hook["url"])
        for receiver in ALERTMANAGER_CONFIG["receivers"]
        for hook in receiver.get("webhook_configs", [])
    ]
    assert hooks and {(u.hostname, str(u.port)) for u in hooks} == {("alert-sink", port)}
    assert DEFAULTS["alerts"]["sink_url"] == f"http://127.0.0.1:{port}"
    assert "/health" in " ".join(sink["healthcheck"]["test"])


def test_the_sample_app_image_carries_the_sink() -> None:
    dockerfile = (ROOT / "sample_app" / "Dockerfile").read_text()
    assert "alert_sink.py" in dockerfile


@pytest.mark.parametrize(
    ("config", "sends"),
    [
        ({}, False),
        ({"alerting": {}}, False),
        ({"alerting": {"alertmanagers": []}}, False),
        ({"alerting": {"alertmanagers": [{"static_configs": [{"targets": ["a:9093"]}]}]}}, True),
        ("not a mapping", False),
    ],
)
def test_sends_alerts_reads_the_alerting_section(config: Any, sends: bool) -> None:
    assert sends_alerts(config) is sends


def _verification(rows: list[str], **payloads: Any) -> Verification:
    results = [CheckResult(name, "AC", True, ["fine"]) for name in rows]
    return Verification("http://p", "3.16.0", results, payloads=payloads)


def test_alert_rows_follow_the_round_and_keep_their_answers_apart() -> None:
    merged = with_alert_rows(
        _verification(["health"], rules={"groups": []}),
        _verification(["alertmanagers", "delivery"], rules={"alerting": True}, sink={}),
    )
    assert [r.name for r in merged.results] == ["health", "alertmanagers", "delivery"]
    assert merged.payloads["rules"] == {"groups": []}
    assert merged.payloads["alerts:rules"] == {"alerting": True}
    assert "alerts:sink" in merged.payloads


@pytest.mark.parametrize(
    ("config", "alerting", "rows"),
    [
        ("alerting:\n  alertmanagers:\n  - static_configs: [{targets: [a:9093]}]\n", True, 2),
        ("alerting:\n  alertmanagers:\n  - static_configs: [{targets: [a:9093]}]\n", False, 1),
        ("global: {}\n", True, 1),
    ],
    ids=["sends-alerts", "not-verify-all", "sends-none"],
)
def test_verify_all_adds_the_alert_rows_only_for_a_prometheus_sending_alerts(
    monkeypatch: pytest.MonkeyPatch, config: str, alerting: bool, rows: int
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(
        session, "run_round", lambda *a, **k: _verification(["health"], config=config)
    )

    def alert_round(client: Any, found: settings.AlertSettings, watchdog: str | None) -> Any:
        asked.append(found.alertmanager_url)
        return _verification(["delivery"])

    monkeypatch.setattr(session, "alert_round", alert_round)
    loaded = settings.load(promkit_config())
    prepared = session.prepare_round(
        loaded, ["health"], "http://127.0.0.1:1", alerting=loaded.alerts if alerting else None
    )
    outcome = prepared.attempt()
    assert len(outcome.results) == rows
    assert asked == (["http://127.0.0.1:9093"] if rows == 2 else [])


def test_the_alertmanager_config_folder_is_the_setting_s(tmp_path: Path) -> None:
    from promkit.core.errors import ConfigError
    from promkit.local.stack import alertmanager_env

    assert alertmanager_env(promkit_config()) == {
        ALERTMANAGER_CONFIG_DIR_VAR: str(repo_path(DEFAULTS["alerts"]["config"]).parent)
    }
    other = promkit_config(alerts={"config": str(tmp_path / "am.yml")})
    with pytest.raises(ConfigError, match=r"must name a file called alertmanager\.yml"):
        alertmanager_env(other)


@pytest.mark.parametrize(
    ("url", "alerts", "judged"),
    [
        (None, {}, True),
        ("http://prometheus.internal:9090", {}, False),
        ("http://prometheus.internal:9090", {"alertmanager_url": "http://am.internal:9093"}, True),
    ],
    ids=["the-settings-server", "url-of-ones-own", "url-with-its-alertmanager"],
)
def test_verify_all_judges_the_alert_chain_of_a_url_only_with_its_alertmanager_named(
    url: str | None, alerts: dict[str, str], judged: bool
) -> None:
    loaded = settings.load(promkit_config(alerts=alerts) if alerts else promkit_config())
    assert session.judges_alert_chain(loaded, url) is judged
