"""What a round of checks produces and reads: records and payload readers.

No I/O and no ``requests`` here: the pure judges (checks, rule_checks, discovery,
drift) and every renderer build on these records.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from promkit.core.errors import PromkitError
from promkit.verify.queries import DocumentedQuery


@dataclass(frozen=True)
class CheckResult:
    """One verdict: which check, the acceptance item it proves, pass/fail, and why."""

    name: str
    criterion: str
    ok: bool
    evidence: list[str]
    #: A failure no amount of waiting changes (PromQL the server refuses to parse): a
    #: young server is not waited for on its account.
    final: bool = False


class UnexpectedPayload(PromkitError):
    """An API answer does not have the shape Prometheus 2.x/3.x gives."""


def payload_mapping(value: Any, where: str) -> Mapping[str, Any]:
    """A mapping of an API answer, or UnexpectedPayload naming ``where``."""
    if not isinstance(value, Mapping):
        raise UnexpectedPayload(
            f"Prometheus answered an unexpected payload: {where} is not an object"
        )
    return value


def payload_list(value: Any, where: str) -> list[Any]:
    """A list of an API answer, or UnexpectedPayload naming ``where``."""
    if not isinstance(value, list):
        raise UnexpectedPayload(f"Prometheus answered an unexpected payload: {where} is not a list")
    return value


def payload_text(value: Any) -> str:
    """A string of an API answer, or '' for anything else."""
    return value if isinstance(value, str) else ""


def payload_number(value: Any) -> float | None:
    """A number of an API answer (Prometheus writes some as strings), None if it is none."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 time as Prometheus writes it (nanoseconds, Z), None if absent or zero."""
    if not isinstance(text, str):
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not match or match.group(1).startswith("0001-"):
        return None
    base, fraction, zone = match.groups()
    iso = f"{base}.{(fraction or '0')[:6].ljust(6, '0')}{'+00:00' if zone == 'Z' else zone}"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


@dataclass(frozen=True)
class Answer:
    """A page or probe answer: where it ended up, its status, how long it took, its text."""

    path: str
    url: str
    status: int
    elapsed_ms: float
    content_type: str
    text: str


@dataclass(frozen=True)
class UiPages:
    """What a browser would load first: the landing page, the targets page, one script."""

    root: Answer
    targets: Answer | None
    asset: Answer | None


@dataclass(frozen=True)
class Request:
    """One GET of a round: the key its answer is kept under, the path and its query.

    ``path`` is relative to the server's base URL (``/api/v1/targets``), or an absolute URL
    where an answer pointed (the UI's targets page and script, next to where ``/`` landed).
    """

    key: str
    path: str
    params: tuple[tuple[str, str], ...] = ()

    def url(self, base_url: str) -> str:
        """The absolute URL this request asks a server at ``base_url`` for."""
        if "://" in self.path:
            return self.path
        query = "?" + urlencode(self.params) if self.params else ""
        return base_url.rstrip("/") + "/" + self.path.lstrip("/") + query


@dataclass(frozen=True)
class Verification:
    """One round of checks against one server."""

    url: str
    version: str
    results: list[CheckResult]
    #: When the server started (runtimeinfo's startTime), if it said.
    started: datetime | None = None
    #: What the checks judged, by fetch key ("targets", "query:0", ...): the report's raw answers.
    payloads: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: The documented queries behind the "query:N" payloads.
    queries: tuple[DocumentedQuery, ...] = ()
    #: The selectors behind the "selector:N" payloads (verify.rules).
    selectors: tuple[str, ...] = ()
    #: Every HTTP request the round made, as planned (``promkit.verify.round.fetch_plan``).
    requests: tuple[Request, ...] = ()
    #: The seconds each fetch took, by the keys of ``payloads``.
    timings: Mapping[str, float] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)


#: Collects the log lines that explain a failed round: title -> text.
FailureLogs = Callable[["Verification"], Mapping[str, str]]
