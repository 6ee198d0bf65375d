"""What an upgrade rehearsal asks each of its two servers, through their HTTP API.

``Progress`` tells when a server has scraped every target 3 times and evaluated every rule
group twice; ``observe`` then fetches what promkit.verify.upgrade judges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from promkit.verify.client import APIError, PrometheusClient
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import payload_list, payload_mapping, payload_number, payload_text
from promkit.verify.upgrade import NORMALISED_LABELS, Answer, Refusal, Side, rule_list

#: How often every target must have been scraped, and every group evaluated, before judging.
SCRAPES = 3
EVALUATIONS = 2
#: Counts each target's scrapes (up has one sample per scrape, whatever its outcome).
SCRAPED = "count_over_time(up[1d])"


@dataclass
class Progress:
    """How far one server is: scrapes per target, distinct evaluations per rule group."""

    #: How many rule groups the server must show, and whether it has scrape jobs: until its
    #: rules are loaded and its discovery ran, an empty answer means "not yet".
    groups: int = 0
    jobs: bool = True
    evaluations: dict[str, set[str]] = field(default_factory=dict)
    scrapes: dict[tuple[str, str], int] = field(default_factory=dict)
    targets: int = 0

    def done(self) -> bool:
        if len(self.evaluations) < self.groups or (self.jobs and not self.targets):
            return False
        scraped = len(self.scrapes) >= self.targets and all(
            n >= SCRAPES for n in self.scrapes.values()
        )
        evaluated = all(len(times) >= EVALUATIONS for times in self.evaluations.values())
        return scraped and evaluated

    def missing(self) -> str:
        """What is not there yet, for a timeout's message."""
        short = [
            f"{job}/{inst} scraped {n}x" for (job, inst), n in self.scrapes.items() if n < SCRAPES
        ]
        if len(self.scrapes) < self.targets:
            short.append(f"{self.targets - len(self.scrapes)} target(s) never scraped")
        short += [
            f"group {g} evaluated {len(t)}x"
            for g, t in self.evaluations.items()
            if len(t) < EVALUATIONS
        ]
        if len(self.evaluations) < self.groups:
            short.append(f"{len(self.evaluations)} of {self.groups} rule groups loaded")
        if self.jobs and not self.targets:
            short.append("no target discovered")
        return ", ".join(short) or "nothing"


def poll(client: PrometheusClient, progress: Progress) -> Progress:
    """Update ``progress`` from the server's targets, rules and its count of ``up`` samples."""
    targets = payload_mapping(client.targets(), "targets").get("activeTargets", [])
    progress.targets = len(payload_list(targets, "activeTargets"))
    for row in payload_list(
        payload_mapping(client.query(SCRAPED), "query").get("result", []), "result"
    ):
        metric = payload_mapping(row.get("metric", {}), "metric")
        count = payload_number(row.get("value", [0, "0"])[1]) or 0
        progress.scrapes[
            (payload_text(metric.get("job")), payload_text(metric.get("instance")))
        ] = int(count)
    groups = payload_mapping(client.rules(), "rules").get("groups", [])
    for group in payload_list(groups, "groups"):
        group = payload_mapping(group, "a rule group")
        seen = progress.evaluations.setdefault(payload_text(group.get("name")), set())
        last = payload_text(group.get("lastEvaluation"))
        if last and not last.startswith("0001-"):
            seen.add(last)
    return progress


def answer(client: PrometheusClient, promql: str) -> Answer:
    """The number of series ``promql`` returns now, or the server's error."""
    try:
        data = payload_mapping(client.query(promql), "query")
    except APIError as exc:
        return Answer(error=f"{exc.error_type}: {exc.error}")
    result = data.get("result")
    return Answer(series=len(result) if isinstance(result, list) else 1)


def label_values(client: PrometheusClient, label: str) -> list[str]:
    """The values of ``label`` the server's series have."""
    return [
        payload_text(v) for v in payload_list(client.api(f"/api/v1/label/{label}/values"), label)
    ]


def version(client: PrometheusClient) -> str:
    """The server's version as its buildinfo says (``2.42.0``)."""
    return payload_text(payload_mapping(client.buildinfo(), "buildinfo").get("version")) or "?"


def observe(
    client: PrometheusClient,
    name: str,
    queries: Iterable[DocumentedQuery],
    refusals: tuple[Refusal, ...] = (),
) -> Side:
    """Everything ``promkit.verify.upgrade`` judges of one running server."""
    rules = client.rules()
    promql = {q for _n, q, _h in rule_list(rules)} | {q.promql for q in queries}
    answers: Mapping[str, Answer] = {q: answer(client, q) for q in sorted(promql) if q}
    labels = {label: label_values(client, label) for label in NORMALISED_LABELS}
    return Side(name, refusals, True, client.targets(), rules, labels, answers)


def not_running(name: str, refusals: tuple[Refusal, ...]) -> Side:
    """The side of a server that never got to serve its API."""
    return Side(name, refusals, ran=False)
