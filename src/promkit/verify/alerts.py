"""verify.alerts' judges: the alerting chain, rule -> Prometheus -> Alertmanager -> receiver.

Pure functions over what one round fetched (``AlertChain``, filled by
promkit.verify.alert_round): no I/O here. Rows:

- ``alertmanagers``: Prometheus discovers every Alertmanager (active, none dropped);
- ``notification errors``: prometheus_notifications_errors_total and _dropped_total did not
  move during the round;
- ``alertmanager``: ready, and its cluster holds every peer Prometheus sends to;
- ``delivery``: the always-firing alert reached the sink through its receiver in time; on
  failure, one line says where the chain broke;
- ``quiet``: nothing fires but the always-firing alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from promkit.core.durations import parse_duration
from promkit.verify.result import CheckResult, parse_time, payload_number

ROUTED = "AC-alerts Prometheus routes alerts to Alertmanager"
DELIVERED = "AC-alerts the always-firing alert reaches its receiver"
QUIET = "AC-alerts only the always-firing alerts fire"

#: Alertmanager's defaults for a route that sets none (config/config.go).
_ROUTE_DEFAULTS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}


@dataclass(frozen=True)
class Fetched:
    """One answer of Alertmanager or the sink: its decoded JSON or text, else why it failed."""

    value: Any = None
    error: str = ""
    status: int = 200


@dataclass(frozen=True)
class AlertChain:
    """Everything one verify.alerts round fetched, and what it expects."""

    alertmanager_url: str
    alertmanagers: Any  # Prometheus /api/v1/alertmanagers data
    rules: Any  # Prometheus /api/v1/rules data
    counters_before: Mapping[str, float]  # "metric{labels}" -> value, at the round's start
    counters_after: Mapping[str, float]  # the same at its end
    ready: Fetched  # Alertmanager /-/ready (value: the text)
    status: Fetched  # Alertmanager /api/v2/status
    am_alerts: Fetched  # Alertmanager /api/v2/alerts
    am_metrics: Fetched  # Alertmanager /metrics (text)
    sink: Fetched | None  # the sink's /notifications; None: no sink given
    sink_url: str | None
    watchdog: str | None
    watchdog_receiver: str
    always_firing: tuple[str, ...]
    margin_s: float
    now: datetime
    sent: Mapping[str, float] = field(default_factory=dict)  # notifications_sent_total


# --- reading the answers ---------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def active_urls(alertmanagers: Any) -> tuple[list[str], list[str]]:
    """The active and dropped Alertmanager URLs of /api/v1/alertmanagers."""
    data = alertmanagers if isinstance(alertmanagers, Mapping) else {}

    def urls(key: str) -> list[str]:
        return [str(a.get("url", "")) for a in data.get(key) or [] if isinstance(a, Mapping)]

    return urls("activeAlertmanagers"), urls("droppedAlertmanagers")


def firing_alerts(rules: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """(alert name, alert) for every firing alert of /api/v1/rules."""
    found = []
    groups = rules.get("groups") if isinstance(rules, Mapping) else None
    for group in groups or []:
        for rule in group.get("rules") or [] if isinstance(group, Mapping) else []:
            if not isinstance(rule, Mapping) or rule.get("type") != "alerting":
                continue
            for alert in rule.get("alerts") or []:
                if isinstance(alert, Mapping) and alert.get("state") == "firing":
                    found.append((str(rule.get("name", "")), alert))
    return found


def rule_state(rules: Any, name: str) -> tuple[str, float | None]:
    """The state of alerting rule ``name`` ('' if not loaded) and its group's interval (s)."""
    groups = rules.get("groups") if isinstance(rules, Mapping) else None
    for group in groups or []:
        for rule in group.get("rules") or [] if isinstance(group, Mapping) else []:
            if isinstance(rule, Mapping) and rule.get("name") == name:
                return str(rule.get("state", "")), payload_number(group.get("interval"))
    return "", None


def _route_of(route: Mapping[str, Any], receiver: str, inherited: dict[str, str]) -> Any:
    """The timers of the first route (depth first) sending to ``receiver``, inherited down."""
    timers = {k: str(route.get(k, inherited[k])) for k in _ROUTE_DEFAULTS}
    if route.get("receiver") == receiver:
        return timers
    for child in route.get("routes") or []:
        if isinstance(child, Mapping):
            found = _route_of(child, receiver, timers)
            if found:
                return found
    return None


def route_timers(config_yaml: str, receiver: str) -> dict[str, float]:
    """group_wait, group_interval, repeat_interval (s) of the route to ``receiver`` in
    Alertmanager's served config; its defaults where the config has no such route."""
    try:
        config = yaml.safe_load(config_yaml) or {}
    except yaml.YAMLError:
        config = {}
    route = config.get("route") if isinstance(config, Mapping) else None
    timers = (
        _route_of(route, receiver, dict(_ROUTE_DEFAULTS)) if isinstance(route, Mapping) else None
    )
    return {k: parse_duration(v) for k, v in (timers or _ROUTE_DEFAULTS).items()}


def webhook_urls(config_yaml: str) -> dict[str, list[str]]:
    """Receiver name -> its webhook URLs, from Alertmanager's served config."""
    try:
        config = yaml.safe_load(config_yaml) or {}
    except yaml.YAMLError:
        return {}
    receivers = config.get("receivers") if isinstance(config, Mapping) else None
    return {
        str(r.get("name")): [
            str(w.get("url", "")) for w in r.get("webhook_configs") or [] if isinstance(w, Mapping)
        ]
        for r in receivers or []
        if isinstance(r, Mapping)
    }


def served_config(status: Fetched) -> str:
    """The config Alertmanager runs (/api/v2/status config.original)."""
    return str(_mapping(_mapping(status.value).get("config")).get("original", ""))


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (text exposition)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += payload_number(value) or 0.0
    return total


def metric_series(text: str, names: Sequence[str]) -> dict[str, float]:
    """``name{labels}`` -> value of every sample of ``names`` in a text exposition."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        if name in names and not line.startswith("#"):
            found[series if "{" in series else series + "{}"] = payload_number(value) or 0.0
    return found


def am_routes(am_alerts: Fetched, name: str) -> list[str] | None:
    """The receivers Alertmanager holds alert ``name`` for; None if it has no such alert."""
    for alert in am_alerts.value if isinstance(am_alerts.value, list) else []:
        labels = alert.get("labels") if isinstance(alert, Mapping) else None
        if isinstance(labels, Mapping) and labels.get("alertname") == name:
            return [str(r.get("name")) for r in alert.get("receivers") or []]
    return None


# --- the judges ------------------------------------------------------------------------


def check_alertmanagers(alertmanagers: Any) -> CheckResult:
    """Prometheus discovers at least one Alertmanager, and drops none."""
    active, dropped = active_urls(alertmanagers)
    evidence = [f"active {url}" for url in active] + [f"DROPPED {url}" for url in dropped]
    if not active:
        evidence.insert(0, "Prometheus sends to no Alertmanager (no alerting.alertmanagers)")
    return CheckResult("alertmanagers", ROUTED, bool(active) and not dropped, evidence)


def check_notification_errors(
    before: Mapping[str, float], after: Mapping[str, float]
) -> CheckResult:
    """prometheus_notifications_errors_total and _dropped_total are flat over the round."""
    evidence, ok = [], True
    for series in sorted(set(before) | set(after)):
        was, now = before.get(series, 0.0), after.get(series, 0.0)
        if now > was:
            ok = False
            evidence.append(f"{series} rose {was:g} -> {now:g} during the round")
        else:
            evidence.append(f"{series} flat at {now:g}")
    if not evidence:
        evidence = ["no notification error or drop counters: is alerting configured?"]
    return CheckResult("notification errors", ROUTED, ok, evidence)


def check_alertmanager(chain: AlertChain) -> CheckResult:
    """Alertmanager is ready and its cluster holds every peer Prometheus sends to."""
    url = chain.alertmanager_url
    if chain.ready.error:
        return CheckResult(
            "alertmanager", ROUTED, False, [f"Alertmanager at {url}: {chain.ready.error}"]
        )
    if chain.ready.status != 200:
        return CheckResult(
            "alertmanager", ROUTED, False, [f"{url}/-/ready answered {chain.ready.status}"]
        )
    status = _mapping(chain.status.value)
    cluster = _mapping(status.get("cluster"))
    peers = [p for p in cluster.get("peers") or [] if isinstance(p, Mapping)]
    active, _ = active_urls(chain.alertmanagers)
    version = _mapping(status.get("versionInfo")).get("version", "?")
    evidence = [f"Alertmanager {version} at {url} ready, cluster {cluster.get('status', '?')}"]
    evidence += [f"peer {p.get('name', '?')} at {p.get('address', '?')}" for p in peers]
    if chain.status.error:
        return CheckResult("alertmanager", ROUTED, False, [*evidence, chain.status.error])
    want = len(active)
    clustered = cluster.get("status") == "ready" or (
        want <= 1 and cluster.get("status") == "disabled"
    )
    enough = len(peers) >= want or (want <= 1 and cluster.get("status") == "disabled")
    if not enough:
        evidence.append(
            f"the cluster has {len(peers)} peer(s), Prometheus sends to {want} Alertmanagers"
        )
    if not clustered:
        evidence.append(f"cluster status is {cluster.get('status')!r}, not 'ready'")
    return CheckResult("alertmanager", ROUTED, clustered and enough, evidence)


def check_quiet(rules: Any, always_firing: Sequence[str]) -> CheckResult:
    """The only firing alerts are the always-firing ones."""
    firing = firing_alerts(rules)
    others = sorted({name for name, _ in firing if name not in always_firing})
    evidence = [f"firing: {', '.join(sorted({n for n, _ in firing})) or 'nothing'}"]
    if others:
        evidence.append(
            f"firing beyond the always-on ({', '.join(always_firing)}): {', '.join(others)}"
        )
    return CheckResult("quiet", QUIET, not others, evidence)


def _watchdog_notes(chain: AlertChain) -> list[float]:
    """When the sink got a firing notification of the Watchdog through its receiver."""
    value = (
        chain.sink.value if chain.sink is not None and isinstance(chain.sink.value, Mapping) else {}
    )
    return sorted(
        float(n.get("received_at", 0))
        for n in value.get("notifications") or []
        if isinstance(n, Mapping)
        and n.get("receiver") == chain.watchdog_receiver
        and n.get("status") == "firing"
        and chain.watchdog in (n.get("alertnames") or [])
    )


def where_broken(chain: AlertChain) -> str:
    """One line naming the first link of the chain that does not carry the Watchdog."""
    name, receiver = chain.watchdog or "", chain.watchdog_receiver
    state, _ = rule_state(chain.rules, name)
    if state != "firing":
        return f"rule not firing: Prometheus' alerting rule {name} is {state or 'not loaded'}"
    active, _ = active_urls(chain.alertmanagers)
    if not active:
        return "Prometheus not sending: it discovers no Alertmanager"
    problem = chain.ready.error or chain.am_alerts.error
    if problem:
        return f"Alertmanager not answering at {chain.alertmanager_url}: {problem}"
    routed = am_routes(chain.am_alerts, name)
    if routed is None:
        sent = sum(chain.sent.values())
        return (
            f"Prometheus not sending: Alertmanager holds no {name} alert (Prometheus has sent "
            f"{sent:g} notifications)"
        )
    if receiver not in routed:
        to = ", ".join(routed) or "no receiver"
        return f"Alertmanager not routing: it sends {name} to {to}, not {receiver}"
    metrics = chain.am_metrics.value if isinstance(chain.am_metrics.value, str) else ""
    failed = metric_sum(metrics, "alertmanager_notifications_failed_total", integration="webhook")
    hooks = ", ".join(webhook_urls(served_config(chain.status)).get(receiver, [])) or "no webhook"
    via = f"(receiver {receiver} posts to {hooks})"
    if chain.sink is not None and chain.sink.error:
        return f"sink not answering at {chain.sink_url}: {chain.sink.error} {via}"
    if failed:
        return f"receiver failing: Alertmanager's webhooks failed {failed:g} time(s) {via}"
    return (
        f"sink never called: Alertmanager routes {name} to {receiver} {via}, the sink recorded none"
    )


def _delivery_window(chain: AlertChain, active_at: float) -> tuple[float, float, str]:
    """From when, and within how many seconds, the first notification is due; the head line.

    group_wait + one evaluation interval + margin after activeAt; for a sink that started
    later, after its start plus a repeat (Alertmanager resends only every repeat_interval).
    """
    _, interval = rule_state(chain.rules, chain.watchdog or "")
    timers = route_timers(served_config(chain.status), chain.watchdog_receiver)
    started = payload_number(_mapping(chain.sink.value if chain.sink else None).get("started_at"))
    budget = timers["group_wait"] + (interval or 0.0) + chain.margin_s
    parts = (
        f"group_wait {timers['group_wait']:g}s + interval {interval or 0:g}s + "
        f"margin {chain.margin_s:g}s"
    )
    reference = active_at
    if started and started > active_at:
        reference = started
        budget += timers["repeat_interval"] + timers["group_interval"]
        parts += " + a repeat and group interval: the sink started after the alert"
    head = f"{chain.watchdog} active since {_clock(active_at)}; budget {budget:g}s ({parts})"
    return reference, budget, head


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def check_delivery(chain: AlertChain) -> CheckResult:
    """The Watchdog reached the sink through its receiver in time (``_delivery_window``) and
    still does (its last notification younger than a repeat and group interval); a first
    one that came late (a receiver failing for a while) is said, not failed."""
    name = chain.watchdog
    if not name:
        return CheckResult(
            "delivery", DELIVERED, True, ["no always-firing alert expected (expect.watchdog)"]
        )
    if chain.sink is None:
        # Counters rise even when sending fails: without the receiver's own record there is
        # no proof of delivery, and a check that cannot prove it does not pass.
        why = "not proven: no sink to read; give --sink URL (or alerts.sink_url)"
        return CheckResult("delivery", DELIVERED, False, [why])
    active = next(
        (parse_time(a.get("activeAt")) for n, a in firing_alerts(chain.rules) if n == name), None
    )
    if active is None or chain.sink.error:
        return CheckResult("delivery", DELIVERED, False, [where_broken(chain)])
    reference, budget, head = _delivery_window(chain, active.timestamp())
    now = chain.now.timestamp()
    notes = [t for t in _watchdog_notes(chain) if t >= reference - 1]
    if not notes:
        waited = now - reference
        within = " (still within the budget)" if waited <= budget else ""
        line = f"none at the sink after {waited:.1f}s{within}: {where_broken(chain)}"
        return CheckResult("delivery", DELIVERED, False, [head, line])
    first, last = notes[0] - reference, now - notes[-1]
    line = (
        f"{len(notes)} notification(s) at the sink via {chain.watchdog_receiver}: the first "
        f"{first:.1f}s after, the last {last:.1f}s ago"
    )
    timers = route_timers(served_config(chain.status), chain.watchdog_receiver)
    fresh = timers["repeat_interval"] + timers["group_interval"] + chain.margin_s
    if last > fresh:
        line += f": none for {last:.0f}s, one is due every {fresh:g}s; {where_broken(chain)}"
        return CheckResult("delivery", DELIVERED, False, [head, line])
    if first > budget:
        line += " (the first came late, after the budget; it delivers again since)"
    return CheckResult("delivery", DELIVERED, True, [head, line])


def sends_alerts(config: Any) -> bool:
    """Whether a Prometheus config (its parsed /api/v1/status/config) sends alerts to any
    Alertmanager: verify.all then proves the alerting chain too."""
    alerting = _mapping(_mapping(config).get("alerting"))
    return any(isinstance(a, Mapping) for a in alerting.get("alertmanagers") or [])


def judge(chain: AlertChain) -> list[CheckResult]:
    """Every row of verify.alerts, in report order."""
    return [
        check_alertmanagers(chain.alertmanagers),
        check_notification_errors(chain.counters_before, chain.counters_after),
        check_alertmanager(chain),
        check_delivery(chain),
        check_quiet(chain.rules, chain.always_firing),
    ]
