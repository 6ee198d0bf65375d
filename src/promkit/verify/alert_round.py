"""verify.alerts' round: fetch the chain (Prometheus, Alertmanager, the sink), then judge.

Prometheus is required (an unreachable one is exit 2, as for every verify task); an
Alertmanager or sink that does not answer is a broken link of the chain, judged and named
by promkit.verify.alerts, not an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from promkit.core.settings import AlertSettings
from promkit.verify import alerts, drift
from promkit.verify.alerts import AlertChain, Fetched
from promkit.verify.checks import utc_now
from promkit.verify.client import PrometheusClient, PrometheusError
from promkit.verify.result import Verification
from promkit.verify.round import Drift, fetch_all

#: The counters that must stay flat over a round, and the one that shows sending.
COUNTERS = ("prometheus_notifications_errors_total", "prometheus_notifications_dropped_total")
SENT = "prometheus_notifications_sent_total"


def counters(client: PrometheusClient, names: tuple[str, ...]) -> dict[str, float]:
    """``metric{labels}`` -> value of Prometheus' own counters ``names``, from its /metrics
    (so no self-scrape is needed)."""
    answer = client.fetch("/metrics")
    if answer.status != 200:
        raise PrometheusError(
            f"Prometheus at {client.base_url} answered {answer.status} for /metrics"
        )
    return alerts.metric_series(answer.text, names)


def fetch_other(client: PrometheusClient, path: str, as_json: bool = True) -> Fetched:
    """GET ``path`` of another server of the chain; what failed becomes ``Fetched.error``."""
    try:
        answer = client.fetch(path)
    except PrometheusError as exc:
        return Fetched(error=_other_reason(str(exc), client.base_url))
    if not as_json:
        return Fetched(answer.text, status=answer.status)
    if answer.status != 200:
        return Fetched(error=f"HTTP {answer.status} for {path}", status=answer.status)
    try:
        return Fetched(json.loads(answer.text))
    except ValueError:
        return Fetched(error=f"{path} answered something that is not JSON", status=answer.status)


def _other_reason(message: str, url: str) -> str:
    """The client's words, which speak of Prometheus, for another server of the chain."""
    if "cannot reach" in message:
        return f"nothing answers at {url} ({message.split(': ', 1)[-1].split(';')[0]})"
    return message.replace("Prometheus at ", "")


def _client_for(prometheus: PrometheusClient, url: str | None) -> PrometheusClient | None:
    return PrometheusClient(url, timeout=prometheus.timeout) if url else None


#: The prefix of the alert round's answers among another round's (verify.all).
PAYLOAD_PREFIX = "alerts:"


def with_alert_rows(outcome: Verification, alerting: Verification) -> Verification:
    """``outcome`` with the rows of an alert round after its own, and its answers (as
    ``alerts:<key>``) beside its own."""
    payloads = {f"{PAYLOAD_PREFIX}{k}": v for k, v in alerting.payloads.items()}
    return replace(
        outcome,
        results=[*outcome.results, *alerting.results],
        payloads={**outcome.payloads, **payloads},
    )


def alert_round(
    prometheus: PrometheusClient, settings: AlertSettings, watchdog: str | None
) -> Verification:
    """One round: the counters, everything else concurrently, the counters again; judged."""
    manager = PrometheusClient(settings.alertmanager_url, timeout=prometheus.timeout)
    sink = _client_for(prometheus, settings.sink_url)
    before = counters(prometheus, (*COUNTERS, SENT))
    fetchers: dict[str, Callable[[], Any]] = {
        "alertmanagers": lambda: prometheus.api("/api/v1/alertmanagers"),
        "rules": prometheus.rules,
        "buildinfo": prometheus.buildinfo,
        "ready": lambda: fetch_other(manager, "/-/ready", as_json=False),
        "status": lambda: fetch_other(manager, "/api/v2/status"),
        "am_alerts": lambda: fetch_other(manager, "/api/v2/alerts"),
        "am_metrics": lambda: fetch_other(manager, "/metrics", as_json=False),
    }
    if sink is not None:
        fetchers["sink"] = lambda: fetch_other(sink, "/notifications")
    got = fetch_all(fetchers)
    chain = AlertChain(
        alertmanager_url=manager.base_url,
        alertmanagers=got["alertmanagers"],
        rules=got["rules"],
        counters_before={k: v for k, v in before.items() if not k.startswith(SENT)},
        counters_after=counters(prometheus, COUNTERS),
        ready=got["ready"],
        status=got["status"],
        am_alerts=got["am_alerts"],
        am_metrics=got["am_metrics"],
        sink=got.get("sink"),
        sink_url=sink.base_url if sink else None,
        watchdog=watchdog,
        watchdog_receiver=settings.watchdog_receiver,
        always_firing=settings.always_firing,
        margin_s=settings.delivery_margin,
        now=utc_now(),
        sent={k: v for k, v in before.items() if k.startswith(SENT)},
    )
    version = str((got["buildinfo"] or {}).get("version", "unknown"))
    payloads = {k: v for k, v in got.items() if k not in ("buildinfo",)}
    return Verification(prometheus.base_url, version, alerts.judge(chain), payloads=payloads)


def with_alertmanager_drift(found: Drift, config_file: Path, where: str, url: str) -> Drift:
    """``found`` (verify.drift of Prometheus) and the differences of the config the
    Alertmanager at ``url`` runs from the repo's ``config_file`` (shown as ``where``); an
    Alertmanager that does not answer is a note (verify.alerts judges that), not drift."""
    status = fetch_other(PrometheusClient(url), "/api/v2/status")
    if status.error:
        note = f"{where} not compared: Alertmanager at {url}: {status.error}"
        return replace(found, notes=(*found.notes, note))
    text = config_file.read_text(encoding="utf-8")
    extra = drift.alertmanager_differences(where, text, alerts.served_config(status), url)
    sources = (*found.repo.sources, where)
    return Drift(replace(found.repo, sources=sources), [*found.differences, *extra], found.notes)
