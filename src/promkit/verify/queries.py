"""The documented PromQL queries: extracted from the metrics guide so they are executed.

The guide's "Sample PromQL queries" section holds one sub-heading per query
and a fenced ```promql block under it. ``verify.queries`` runs exactly those,
so the guide can never hold a query that does not work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from promkit.core.errors import ConfigError

SECTION = re.compile(r"sample\s+promql\s+queries", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)\s*([\w+-]*)\s*$")


@dataclass(frozen=True)
class DocumentedQuery:
    """A query of the guide: its heading, its PromQL and the line it starts on."""

    name: str
    promql: str
    line: int


def _heading(line: str) -> tuple[int, str] | None:
    match = _HEADING.match(line)
    return (len(match.group(1)), match.group(2).strip()) if match else None


def _section_bounds(lines: list[str]) -> tuple[int, int, int]:
    """(first line index, end index, heading level) of the sample queries section."""
    in_fence = False
    start: tuple[int, int] | None = None
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _heading(line)
        if heading is None:
            continue
        level, title = heading
        if start is None and SECTION.search(title):
            start = (index + 1, level)
        elif start is not None and level <= start[1]:
            return start[0], index, start[1]
    if start is None:
        raise ConfigError("it has no 'Sample PromQL queries' heading")
    return start[0], len(lines), start[1]


def _unique(name: str, seen: dict[str, int]) -> str:
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name} ({seen[name]})"


def parse_guide(text: str) -> list[DocumentedQuery]:
    """The ```promql blocks of the "Sample PromQL queries" section, named by their headings."""
    lines = text.splitlines()
    first, end, level = _section_bounds(lines)
    found: list[DocumentedQuery] = []
    seen: dict[str, int] = {}
    name, index = "", first
    while index < end:
        heading = _heading(lines[index])
        fence = _FENCE.match(lines[index])
        if heading and heading[0] > level:
            name = heading[1]
        elif fence:
            closing = next((j for j in range(index + 1, end) if _FENCE.match(lines[j])), None)
            if closing is None:
                raise ConfigError(f"the code block opened on line {index + 1} is never closed")
            if fence.group(2).lower() == "promql":
                promql = "\n".join(lines[index + 1 : closing]).strip()
                if not promql:
                    raise ConfigError(f"the promql block on line {index + 1} is empty")
                label = _unique(name or f"query {len(found) + 1}", seen)
                found.append(DocumentedQuery(label, promql, index + 2))
            index = closing
        index += 1
    if not found:
        raise ConfigError("its 'Sample PromQL queries' section has no ```promql blocks")
    return found


def load_guide(path: Path) -> list[DocumentedQuery]:
    """The documented queries of the guide at ``path``, or a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the metrics guide {path} (setting queries.guide): {exc.strerror}"
        ) from None
    try:
        return parse_guide(text)
    except ConfigError as exc:
        raise ConfigError(f"metrics guide {path} (setting queries.guide): {exc}") from None
