"""The rules of the house (docs/architecture.md) hold for the package as it is on disk.

`lint-imports` (nox -s lint) checks the layers and independence contracts in
pyproject.toml; these tests add what a contract cannot say: no import circle at all,
TYPE_CHECKING imports included, and no module left flat beside the domains.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import grimp
import pytest

import promkit

PACKAGE = Path(promkit.__file__).parent
DOMAINS = {"core", "verify", "report", "rules", "local", "k8s", "serve", "tasks"}


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan, iteratively)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # TYPE_CHECKING imports count: a circle closed only for the type checker is a circle.
    return grimp.build_graph(
        "promkit", include_external_packages=True, exclude_type_checking_imports=False
    )


def test_the_import_graph_has_no_cycle(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    class Circle:
        modules: ClassVar[set[str]] = {"a", "b", "c"}

        def find_modules_directly_imported_by(self, module: str) -> set[str]:
            return {"a": {"b"}, "b": {"a"}, "c": {"a"}}[module]

    assert _cycles(Circle()) == [["a", "b"]]  # type: ignore[arg-type]


def test_only_the_command_line_is_left_flat() -> None:
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "cli.py"]
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert rooms == DOMAINS


def test_only_the_http_client_imports_requests(graph: grimp.ImportGraph) -> None:
    importers = graph.find_modules_that_directly_import("requests")
    assert importers <= {"promkit.verify.client", "promkit.local.traffic"}, importers


def test_test_modules_have_unique_basenames() -> None:
    # tests/ has no __init__.py per suite: pytest imports each test module by its basename,
    # so a second test_x.py in another suite is a collection error in CI's combined run.
    tests = Path(__file__).resolve().parents[1]
    names = [path.name for path in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
