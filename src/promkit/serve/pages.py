"""``/``: the last round as the evidence report's page; ``/api/v1/last``: as ``--json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from promkit.report import evidence, formats
from promkit.serve.options import every_text
from promkit.serve.state import Snapshot


def _when(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def notes(now: Snapshot, every_s: float) -> list[str]:
    """The lines above the table: which round it is, and what went wrong since."""
    every = every_text(every_s)
    lines = []
    if now.finished_at is not None and now.round_seconds is not None:
        lines.append(
            f"round {now.rounds} of promkit serve, ended {_when(now.finished_at)} after "
            f"{now.round_seconds:.2f} s; a round every {every}"
        )
    if now.failing is not None:
        lines.append(f"the latest round could not be judged: {now.failing}")
    if now.skipped:
        lines.append(f"{now.skipped} scheduled rounds skipped: a round took longer than {every}")
    return lines


def index_html(now: Snapshot, every_s: float) -> str:
    """The page: the evidence report's table and lines for the last judged round."""
    if now.outcome is None:
        waiting = now.failing or "the first round is running"
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            "<title>promkit serve</title></head><body><h1>promkit serve</h1>"
            f'<p id="summary">no round judged yet: {escape(waiting)}</p></body></html>\n'
        )
    found = evidence.of_round(now.outcome, notes=notes(now, every_s))
    # No answer files are written: the rows link none, and there are no logs to read.
    return evidence.render(found, {}, Path("."))


def last_json(now: Snapshot) -> dict[str, Any] | None:
    """The last judged round as ``verify.all --json`` writes it, None before the first."""
    if now.outcome is None:
        return None
    return formats.as_dict(now.outcome.url, now.outcome.version, now.outcome.results)


def last_json_bytes(now: Snapshot) -> bytes | None:
    found = last_json(now)
    return None if found is None else (json.dumps(found, indent=2) + "\n").encode()
