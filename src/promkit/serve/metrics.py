"""``/metrics``: the last round as Prometheus metrics, from a registry of promkit's own.

A private ``CollectorRegistry`` (not the process-wide default, which would add the
Python process collectors of whatever imports promkit) with one collector that reads a
snapshot of the state at each scrape, so a scrape never sees half a round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from promkit.serve.state import Snapshot

#: The check group of each result row that is not named after its group.
_GROUP_OF = {
    "runs": "health",
    "jobs": "targets",
    "ui browser": "ui",
    "rule selectors": "rules",
    "watchdog": "rules",
}


_ERRORS_HELP = "Rounds that could not be judged, by reason (the server unreachable, ...)"
_FAILURES_HELP = "Items of the check that failed in the last judged round"
_DURATION_HELP = "How long the fetches the check judged took in the last judged round (slowest)"


def group_of(row: str) -> str:
    """The check (``--checks`` name) a result row belongs to: ``query: X`` -> ``queries``."""
    return "queries" if row.startswith("query: ") else _GROUP_OF.get(row, row)


class RoundCollector(Collector):
    """Yields the metrics of ``snapshot()`` at each collection."""

    def __init__(self, snapshot: Callable[[], Snapshot], version: str) -> None:
        self.snapshot = snapshot
        self.version = version

    def collect(self) -> Iterator[Metric]:
        now = self.snapshot()
        info = GaugeMetricFamily(
            "promkit_build_info", "promkit's version, always 1", labels=["version"]
        )
        info.add_metric([self.version], 1)
        yield info
        yield from _round_metrics(now)
        yield from _check_metrics(now)


def _round_metrics(now: Snapshot) -> Iterator[Metric]:
    yield _by_label(
        CounterMetricFamily("promkit_round_errors", _ERRORS_HELP, labels=["reason"]), now.errors
    )
    yield CounterMetricFamily("promkit_rounds", "Rounds run, judged or not", value=now.rounds)
    yield CounterMetricFamily(
        "promkit_rounds_skipped",
        "Scheduled rounds left out because the round before was still running",
        value=now.skipped,
    )
    if now.finished_at is None or now.round_seconds is None:
        return
    yield GaugeMetricFamily(
        "promkit_round_timestamp_seconds",
        "When the last judged round ended, in Unix time",
        value=now.finished_at,
    )
    yield GaugeMetricFamily(
        "promkit_round_duration_seconds",
        "How long the last judged round took",
        value=now.round_seconds,
    )


def _check_metrics(now: Snapshot) -> Iterator[Metric]:
    if now.outcome is None:
        return
    ok = GaugeMetricFamily(
        "promkit_check_ok",
        "1 if the item passed in the last judged round, else 0",
        labels=["check", "item"],
    )
    failed = dict.fromkeys(now.names, 0)
    for result in now.outcome.results:
        group = group_of(result.name)
        ok.add_metric([group, result.name], 1 if result.ok else 0)
        failed[group] = failed.get(group, 0) + (0 if result.ok else 1)
    yield ok
    yield _by_label(
        GaugeMetricFamily("promkit_check_failures", _FAILURES_HELP, labels=["check"]), failed
    )
    took = GaugeMetricFamily("promkit_check_duration_seconds", _DURATION_HELP, labels=["check"])
    yield _by_label(took, now.check_seconds)


def _by_label(
    family: GaugeMetricFamily | CounterMetricFamily, values: Mapping[str, float]
) -> Metric:
    """``family`` with one sample per (label value, value) of ``values``."""
    for label, value in values.items():
        family.add_metric([label], value)
    return family


def registry(snapshot: Callable[[], Snapshot], version: str) -> CollectorRegistry:
    """A registry of its own holding the round collector."""
    private = CollectorRegistry(auto_describe=False)
    private.register(RoundCollector(snapshot, version))
    return private


def exposition(private: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(private)
