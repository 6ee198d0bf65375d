"""``--report DIR``: evidence an operator can attach to a change ticket.

DIR/index.html is one page, readable offline (no script, no CDN, inline style): the
server's identity (URL, version, start time, a hash of its configuration), every
check with its acceptance item, verdict and evidence lines, links to the raw API
answers each check judged (DIR/answers/), the browser's screenshots of the UI
(DIR/screenshots/) and, when something failed, the log lines that explain it
(DIR/logs/). Every value that came from a server is HTML-escaped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from promkit.core.errors import PromkitError
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import CheckResult, FailureLogs, Verification

PAGE = "index.html"


ANSWERS = "answers"


SCREENSHOTS = "screenshots"


LOGS = "logs"


#: Longer strings in a raw answer (a UI script bundle) are cut, saying how long they were.
MAX_TEXT = 200_000


#: What a report fetches beyond the checks' needs: its config hash and the flags page.
ALSO_FETCHED = ("config", "flags")


#: Which fetched answers each check judges (see promkit.verify.round); others link every answer.
JUDGED: dict[str, tuple[str, ...]] = {
    "runs": ("buildinfo", "runtimeinfo"),
    "health": ("healthy", "ready"),
    "jobs": ("targets", "config"),
    "targets": ("targets",),
    "interval": ("config",),
    "retention": ("runtimeinfo", "flags"),
    "ui": ("ui",),
    "ui browser": (),
    "persistence": ("runtimeinfo", "tsdb", "lowest"),
    "discovery": ("cluster", "targets", "config"),
    "rbac": ("auth-can-i",),
    "rules": ("rules", "runtimeinfo"),
    "watchdog": ("rules",),
}


class ReportDirError(PromkitError):
    """The report folder cannot be created or written."""


@dataclass(frozen=True)
class Screenshot:
    """One page of the UI as the browser showed it, and what was checked on it."""

    title: str
    url: str
    #: The PNG, relative to DIR; None when the page showed no content (nothing kept).
    file: str | None
    ok: bool
    line: str


@dataclass(frozen=True)
class Evidence:
    """Everything the page shows, the files it links already named relative to DIR."""

    url: str
    version: str
    started: datetime | None
    results: Sequence[CheckResult]
    payloads: Mapping[str, Any]
    queries: Sequence[DocumentedQuery] = ()
    screenshots: Sequence[Screenshot] = ()
    #: Log title ("compose service app") -> file relative to DIR.
    logs: Mapping[str, str] = field(default_factory=dict)
    #: One-line remarks: what is missing from the report and how to get it.
    notes: Sequence[str] = ()


def prepare(directory: str | Path) -> Path:
    """``directory`` created if needed and proven writable, or a ReportDirError (exit 2)."""
    path = Path(directory).expanduser()
    probe = path / ".promkit-write-test"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ReportDirError(
            f"cannot write the report to {path}: {exc.strerror or exc}: "
            "give --report a folder you may write to"
        ) from None
    return path


def write_file(directory: Path, relative: str, content: str | bytes) -> str:
    """Write ``content`` to DIR/relative (creating its folder); ``relative`` back."""
    target = directory / relative
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise ReportDirError(f"cannot write {target}: {exc.strerror or exc}") from None
    return relative


def _plain(value: Any) -> Any:
    """``value`` made JSON-able: dataclasses as objects, long strings cut."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + f"... [cut by promkit: {len(value)} characters in all]"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def answer_file(key: str, value: Any) -> tuple[str, str]:
    """(file name, content) of one fetched answer: YAML text as .yaml, the rest as JSON."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", key).strip("-") or "answer"
    if key == "config" and isinstance(value, str):
        return f"{stem}.yaml", value
    return f"{stem}.json", json.dumps(_plain(value), indent=2, sort_keys=True) + "\n"


def query_answers(
    payloads: Mapping[str, Any], queries: Sequence[DocumentedQuery]
) -> dict[str, Any]:
    """The ``query:N`` payloads as objects naming their query, its PromQL and guide line."""
    named: dict[str, Any] = {}
    for index, query in enumerate(queries):
        data, error = payloads.get(f"query:{index}", (None, None))
        answer = {"query": query.name, "promql": query.promql, "guide_line": query.line}
        named[f"query:{index}"] = {**answer, **({"error": error} if error else {"data": data})}
    return named


def raw_answers(
    payloads: Mapping[str, Any], queries: Sequence[DocumentedQuery]
) -> dict[str, tuple[str, str]]:
    """Fetch key -> (file relative to DIR, content), for every answer the checks judged."""
    every = {**payloads, **query_answers(payloads, queries)}
    files: dict[str, tuple[str, str]] = {}
    for key, value in every.items():
        name, content = answer_file(key, value)
        files[key] = (f"{ANSWERS}/{name}", content)
    return files


def judged_keys(
    result: CheckResult, available: Sequence[str], queries: Sequence[DocumentedQuery]
) -> list[str]:
    """The fetch keys whose answers ``result`` was judged from (all of them if unknown)."""
    if result.name.startswith("query: "):
        wanted = result.name.removeprefix("query: ")
        return [f"query:{i}" for i, q in enumerate(queries) if q.name == wanted]
    if result.name == "rule selectors":  # one count(<selector>) answer per selector
        return [k for k in available if k.startswith("selector:")]
    keys = JUDGED.get(result.name)
    return [k for k in (keys if keys is not None else available) if k in available]


def config_hash(payloads: Mapping[str, Any]) -> str:
    """The SHA-256 of the configuration the server runs (its served YAML), or why not."""
    config = payloads.get("config")
    if not isinstance(config, str):
        return "not fetched"
    return "sha256:" + hashlib.sha256(config.encode("utf-8")).hexdigest()


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "unknown"


def anchor(result: CheckResult) -> str:
    """The id of ``result``'s row on the page (``check-query-error-rate``)."""
    return "check-" + (re.sub(r"[^a-z0-9]+", "-", result.name.lower()).strip("-") or "unnamed")


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d1d1f;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:.4em .6em;
vertical-align:top;text-align:left}th{background:#f5f5f7}
.PASS{color:#fff;background:#1a7f37;padding:.1em .5em;border-radius:.3em;font-weight:600}
.FAIL{color:#fff;background:#cf222e;padding:.1em .5em;border-radius:.3em;font-weight:600}
ul{margin:0;padding-left:1.2em}code,pre{font-family:ui-monospace,monospace;font-size:.92em}
pre{background:#f6f8fa;padding:.8em;overflow:auto;max-height:30em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ccc}
.note{background:#fff8c5;padding:.5em .8em;border-left:4px solid #d4a72c}
"""


def _verdict(ok: bool) -> str:
    word = "PASS" if ok else "FAIL"
    return f'<span class="{word}">{word}</span>'


def _link(path: str, label: str | None = None) -> str:
    return f'<a href="{escape(path)}">{escape(label or path)}</a>'


def _identity(evidence: Evidence) -> str:
    rows = [
        ("URL", escape(evidence.url)),
        ("Version", escape(evidence.version)),
        ("Started", escape(_when(evidence.started))),
        ("Configuration", f"<code>{escape(config_hash(evidence.payloads))}</code>"),
        ("Report written", escape(_when(datetime.now(UTC)))),
    ]
    cells = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table id="server">{cells}</table>'


def _check_row(result: CheckResult, files: Mapping[str, str], evidence: Evidence) -> str:
    lines = "".join(f"<li>{escape(line)}</li>" for line in result.evidence) or "<li></li>"
    keys = judged_keys(result, list(files), evidence.queries)
    links = ", ".join(_link(files[k], files[k].rsplit("/", 1)[-1]) for k in keys) or "-"
    return (
        f'<tr id="{anchor(result)}"><td>{escape(result.name)}</td>'
        f"<td>{escape(result.criterion)}</td><td>{_verdict(result.ok)}</td>"
        f"<td><ul>{lines}</ul></td><td>{links}</td></tr>"
    )


def _checks(evidence: Evidence, files: Mapping[str, str]) -> str:
    head = "<tr><th>Check</th><th>Acceptance</th><th>Result</th><th>Evidence</th>"
    head += "<th>Raw answers</th></tr>"
    rows = "".join(_check_row(r, files, evidence) for r in evidence.results)
    return f'<table id="checks">{head}{rows}</table>'


def _screenshots(shots: Sequence[Screenshot]) -> str:
    if not shots:
        return "<p>No screenshots were taken.</p>"
    out = []
    for shot in shots:
        caption = (
            f"{escape(shot.title)} ({_link(shot.url)}): {_verdict(shot.ok)} {escape(shot.line)}"
        )
        image = f'<img src="{escape(shot.file)}" alt="{escape(shot.title)}">' if shot.file else ""
        out.append(f"<figure>{image}<figcaption>{caption}</figcaption></figure>")
    return "".join(out)


def _logs(directory: Path, logs: Mapping[str, str]) -> str:
    if not logs:
        return ""
    parts = ["<h2>Logs of what failed</h2>"]
    for title, relative in logs.items():
        text = (directory / relative).read_text(encoding="utf-8", errors="replace")
        parts.append(f"<h3>{escape(title)} ({_link(relative)})</h3><pre>{escape(text)}</pre>")
    return "".join(parts)


def render(evidence: Evidence, files: Mapping[str, str], directory: Path) -> str:
    """The whole page as HTML text (``files``: fetch key -> answer file, see raw_answers)."""
    failed = [r.name for r in evidence.results if not r.ok]
    summary = (
        f"all {len(evidence.results)} checks pass"
        if not failed
        else f"{len(evidence.results) - len(failed)}/{len(evidence.results)} checks pass; "
        f"failing: {', '.join(failed)}"
    )
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in evidence.notes)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>promkit report: {escape(evidence.url)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>promkit verification of {escape(evidence.url)}</h1>"
        f'<p id="summary">{_verdict(not failed and bool(evidence.results))} {escape(summary)}</p>'
        f"{notes}<h2>Server</h2>{_identity(evidence)}<h2>Checks</h2>{_checks(evidence, files)}"
        f'<h2>Screenshots</h2><div id="screenshots">{_screenshots(evidence.screenshots)}</div>'
        f"{_logs(directory, evidence.logs)}</body></html>\n"
    )


def write(directory: Path, evidence: Evidence) -> Path:
    """Write the raw answers and DIR/index.html; the page's path."""
    files = raw_answers(evidence.payloads, evidence.queries)
    for relative, content in files.values():
        write_file(directory, relative, content)
    links = {key: relative for key, (relative, _) in files.items()}
    write_file(directory, PAGE, render(evidence, links, directory))
    return directory / PAGE


def write_logs(directory: Path, logs: Mapping[str, str]) -> dict[str, str]:
    """Write each log to DIR/logs/; title -> file relative to DIR."""
    written = {}
    for title, text in logs.items():
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", title).strip("-") or "log"
        written[title] = write_file(directory, f"{LOGS}/{stem}.log", text)
    return written


def report_round(
    directory: Path,
    outcome: Verification,
    *,
    screenshots: Sequence[Screenshot] = (),
    failure_logs: FailureLogs | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write DIR for ``outcome`` (with the failure logs when it failed); the page's path."""
    logs: Mapping[str, str] = {}
    try:
        logs = failure_logs(outcome) if failure_logs is not None and not outcome.ok else {}
    except PromkitError as exc:
        notes = [*notes, f"the logs of what failed could not be collected: {exc}"]
    found = of_round(outcome, screenshots, write_logs(directory, logs), notes)
    return write(directory, found)


def of_round(
    outcome: Verification,
    screenshots: Sequence[Screenshot] = (),
    logs: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> Evidence:
    """What the page of ``outcome`` shows (``logs``: title -> file relative to DIR)."""
    return Evidence(
        outcome.url,
        outcome.version,
        outcome.started,
        outcome.results,
        outcome.payloads,
        outcome.queries,
        screenshots,
        logs or {},
        notes,
    )
