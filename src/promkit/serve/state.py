"""What the rounds found so far: the last completed round, and why others failed.

The round thread records, the HTTP threads read ``snapshot()``; a lock keeps each
snapshot whole.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from promkit.core.errors import ConfigError, PromkitError
from promkit.verify import client as prom
from promkit.verify.result import UnexpectedPayload, Verification

#: Why a round could not be judged (``promkit_round_errors_total{reason}``), by error type.
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (prom.Unreachable, "unreachable"),
    (prom.TimedOut, "timeout"),
    (prom.TLSFailure, "tls"),
    (prom.AuthFailed, "auth"),
    (prom.NotPrometheus, "not_prometheus"),
    (prom.TooLarge, "too_large"),
    (prom.NotReady, "not_ready"),
    (prom.APIError, "api_error"),
    (prom.HTTPFailure, "http_error"),
    (UnexpectedPayload, "unexpected_payload"),
    (ConfigError, "config"),
    (PromkitError, "other"),
)

#: Every reason, counted from 0 so that rate() sees the first error.
REASONS: tuple[str, ...] = (*(reason for _, reason in _REASONS), "internal")


def reason_of(exc: BaseException) -> str:
    """The reason label of a round that raised ``exc`` (``internal``: a bug of promkit's)."""
    return next((reason for kind, reason in _REASONS if isinstance(exc, kind)), "internal")


@dataclass(frozen=True)
class Snapshot:
    """The state at one moment."""

    #: The checks each round runs, in report order.
    names: tuple[str, ...]
    #: The last round that was judged (None before the first).
    outcome: Verification | None = None
    #: When it ended (Unix time) and how long it took.
    finished_at: float | None = None
    round_seconds: float | None = None
    #: Per check group: the seconds its fetches took (promkit.verify.round.check_seconds).
    check_seconds: Mapping[str, float] = field(default_factory=dict)
    #: Rounds that could not be judged, by reason.
    errors: Mapping[str, int] = field(default_factory=dict)
    #: Why the latest round could not be judged; None once a round is judged again.
    failing: str | None = None
    #: Scheduled rounds left out because the one before was still running.
    skipped: int = 0
    #: Rounds run so far, judged or not.
    rounds: int = 0


class State:
    """The one mutable record, shared by the round thread and the HTTP threads."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._lock = threading.Lock()
        self._now = Snapshot(names, errors=dict.fromkeys(REASONS, 0))

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._now

    def _update(self, **changes: Any) -> None:
        # One thread records (the rounds'), so a read-then-update needs no wider lock.
        with self._lock:
            self._now = replace(self._now, **changes)

    def record_round(
        self, outcome: Verification, seconds: float, check_seconds: Mapping[str, float], at: float
    ) -> None:
        """A judged round: it replaces the last one."""
        rounds = self.snapshot().rounds + 1
        self._update(
            outcome=outcome,
            finished_at=at,
            round_seconds=seconds,
            check_seconds=dict(check_seconds),
            failing=None,
            rounds=rounds,
        )

    def record_error(self, reason: str, message: str) -> None:
        """A round that could not be judged; the last judged round stays."""
        now = self.snapshot()
        errors = {**now.errors, reason: now.errors.get(reason, 0) + 1}
        self._update(errors=errors, failing=message, rounds=now.rounds + 1)

    def record_skipped(self, count: int) -> None:
        self._update(skipped=self.snapshot().skipped + count)
