"""Rounds on a fixed schedule in one thread, the HTTP server in another, until a signal.

Rounds never overlap: one thread runs them one after another, each starting on the
next tick of the ``--every`` grid; a round that runs past a tick makes that tick
skipped (a line, and ``promkit_rounds_skipped_total``), not a second round. SIGTERM
and SIGINT set an event that ends both threads within a second.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from types import FrameType

from promkit.core import console
from promkit.core.errors import PromkitError
from promkit.report import formats
from promkit.serve import metrics, pages
from promkit.serve.http import Page, Route, ServeServer
from promkit.serve.options import every_text
from promkit.serve.state import State, reason_of
from promkit.verify.result import Verification
from promkit.verify.round import check_seconds

Say = Callable[[str], None]

#: How long a stop waits for a round in flight before leaving it behind.
_ROUND_GRACE_S = 0.3


@dataclass
class Rounds:
    """Runs ``attempt`` every ``every_s`` seconds into ``state`` until ``stop`` is set."""

    attempt: Callable[[], Verification]
    every_s: float
    state: State
    say: Say = console.say

    def one(self) -> None:
        """One round, recorded as judged or as an error of its reason."""
        number = self.state.snapshot().rounds + 1
        began = time.monotonic()
        try:
            outcome = self.attempt()
        except PromkitError as exc:
            self.state.record_error(reason_of(exc), str(exc))
            self.say(f"round {number}: could not verify: {exc}")
            return
        except Exception as exc:  # a bug of promkit's must not end the service
            self.state.record_error("internal", f"{type(exc).__name__}: {exc}")
            console.warn(f"round {number}: promkit failed: {type(exc).__name__}: {exc}")
            return
        took = time.monotonic() - began
        names = self.state.snapshot().names
        self.state.record_round(outcome, took, check_seconds(outcome, names), time.time())
        self.say(f"round {number} ({took:.2f} s): {formats.summary_line(outcome.results)}")

    def run(self, stop: threading.Event) -> None:
        """Round after round on the grid of ``every_s`` from now, until ``stop``."""
        start = time.monotonic()
        tick = 0
        while not stop.is_set():
            self.one()
            ticks_gone = (time.monotonic() - start) / self.every_s
            following = max(tick + 1, math.ceil(ticks_gone))
            if following - tick > 1:
                self._skipped(following - tick - 1)
            tick = following
            stop.wait(max(0.0, start + tick * self.every_s - time.monotonic()))

    def _skipped(self, count: int) -> None:
        self.state.record_skipped(count)
        every = every_text(self.every_s)
        self.say(f"the round took longer than {every}: {count} scheduled round(s) skipped")


def routes(state: State, every_s: float, alive: Callable[[], bool]) -> dict[str, Route]:
    """/metrics, /, /healthz and /api/v1/last over ``state``."""
    private = metrics.registry(state.snapshot, metadata.version("promkit"))

    def metrics_page() -> Page:
        return Page(200, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition(private))

    def index() -> Page:
        html = pages.index_html(state.snapshot(), every_s)
        return Page(200, "text/html; charset=utf-8", html.encode())

    def healthz() -> Page:
        if alive():
            return Page(200, "text/plain", b"ok\n")
        return Page(503, "text/plain", b"the round thread has stopped\n")

    def last() -> Page:
        body = pages.last_json_bytes(state.snapshot())
        if body is None:
            return Page(503, "application/json", b'{"error": "no round judged yet"}\n')
        return Page(200, "application/json", body)

    return {"/metrics": metrics_page, "/": index, "/healthz": healthz, "/api/v1/last": last}


@contextmanager
def stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` while the block runs (their handlers restored after)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(server: ServeServer, rounds: Rounds, stop: threading.Event) -> bool:
    """Serve and run rounds until ``stop``; True if a round was still in flight at the end
    (the caller leaves it behind: its requests would hold the exit up to their timeout)."""
    worker = threading.Thread(target=rounds.run, args=(stop,), name="promkit-rounds", daemon=True)
    server.routes.update(routes(rounds.state, rounds.every_s, worker.is_alive))
    http_thread = server.start()
    worker.start()
    try:
        while not stop.wait(0.25):
            pass
    finally:
        stop.set()
        server.stop()
        http_thread.join(1.0)
        worker.join(_ROUND_GRACE_S)
    return worker.is_alive()
