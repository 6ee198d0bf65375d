"""Reports of a verification: a table for people, JSON for scripts, JUnit XML for CI."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from promkit.core import console
from promkit.core.errors import PromkitError
from promkit.report.evidence import anchor
from promkit.verify.result import CheckResult, Verification

_HEADERS = ("CHECK", "ACCEPTANCE", "RESULT", "EVIDENCE")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def summary_line(results: Sequence[CheckResult]) -> str:
    """'6/7 checks pass; failing: targets' (or 'all 7 checks pass')."""
    failed = [r.name for r in results if not r.ok]
    if not failed:
        return f"all {len(results)} checks pass"
    return f"{len(results) - len(failed)}/{len(results)} checks pass; failing: {', '.join(failed)}"


def table(results: Sequence[CheckResult]) -> str:
    """A plain-text table: one row per check, further evidence lines beneath it."""
    rows: list[tuple[str, str, str, str]] = []
    for result in results:
        lines = result.evidence or [""]
        rows.append((result.name, result.criterion, verdict(result.ok), lines[0]))
        rows.extend(("", "", "", line) for line in lines[1:])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(_HEADERS[:3])]

    def render(cells: Sequence[str]) -> str:
        head = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False))
        return f"{head}  {cells[3]}".rstrip()

    out = [render(_HEADERS), render(["-" * w for w in widths] + ["-" * 8])]
    out += [render(row) for row in rows]
    return "\n".join([*out, "", summary_line(results)])


def as_dict(url: str, version: str, results: Sequence[CheckResult]) -> dict[str, Any]:
    """The JSON report: the server, a summary and every result."""
    failed = [r.name for r in results if not r.ok]
    return {
        "prometheus": {"url": url, "version": version},
        "summary": {
            "ok": not failed and bool(results),
            "total": len(results),
            "passed": len(results) - len(failed),
            "failed": failed,
        },
        "results": [
            {"name": r.name, "criterion": r.criterion, "ok": r.ok, "evidence": list(r.evidence)}
            for r in results
        ],
    }


def junit_xml(
    url: str, version: str, results: Sequence[CheckResult], page: str | None = None
) -> str:
    """JUnit XML: one testcase per check, the evidence as failure message or output.

    With ``page`` (the HTML report, as a path or URL), each testcase links to its row
    there: a ``report`` property, and a last line of its output.
    """
    failures = sum(1 for r in results if not r.ok)
    suite = ElementTree.Element(
        "testsuite",
        {
            "name": "promkit.verify",
            "tests": str(len(results)),
            "failures": str(failures),
            "errors": "0",
            "skipped": "0",
        },
    )
    props = ElementTree.SubElement(suite, "properties")
    for name, value in (("prometheus.url", url), ("prometheus.version", version)):
        ElementTree.SubElement(props, "property", {"name": name, "value": value})
    for result in results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            {
                "classname": f"promkit.verify.{result.criterion.split(' ')[0]}",
                "name": f"{result.name} ({result.criterion})",
            },
        )
        text = "\n".join(result.evidence)
        if page is not None:
            link = f"{page}#{anchor(result)}"
            props = ElementTree.SubElement(case, "properties")
            ElementTree.SubElement(props, "property", {"name": "report", "value": link})
            text += f"\nevidence report: {link}"
        if result.ok:
            ElementTree.SubElement(case, "system-out").text = text
        else:
            failure = ElementTree.SubElement(
                case,
                "failure",
                {"message": next(iter(result.evidence), "failed"), "type": "CheckFailed"},
            )
            failure.text = text
    ElementTree.indent(suite)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write(path: str | Path, text: str) -> Path:
    """Write a report file (creating its folder), or a PromkitError naming the path."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PromkitError(f"cannot write the report {target}: {exc.strerror}") from None
    return target


def write_json(path: str | Path, url: str, version: str, results: Sequence[CheckResult]) -> Path:
    """Write the JSON report to ``path``."""
    return write(path, json.dumps(as_dict(url, version, results), indent=2) + "\n")


def write_junit(
    path: str | Path,
    url: str,
    version: str,
    results: Sequence[CheckResult],
    page: Path | None = None,
) -> Path:
    """Write the JUnit XML report to ``path``; test cases link to ``page`` (relative to it)."""
    link = os.path.relpath(page, Path(path).parent) if page is not None else None
    return write(path, junit_xml(url, version, results, link))


def print_report(
    outcome: Verification,
    json_path: str | None,
    junit_path: str | None,
    page: Path | None = None,
) -> None:
    """Print the table of ``outcome``; write its JSON and JUnit reports where asked.

    With ``page`` (the HTML report), each JUnit test case links to its row there.
    """
    console.say(f"Prometheus {outcome.version} at {outcome.url}\n")
    console.say(table(outcome.results))
    found = (outcome.url, outcome.version, outcome.results)
    if page:
        console.say(f"HTML report: {page}")
    if json_path:
        console.say(f"JSON report: {write_json(json_path, *found)}")
    if junit_path:
        console.say(f"JUnit report: {write_junit(junit_path, *found, page=page)}")
