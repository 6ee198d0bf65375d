"""Tasks only wire: no task function in src/promkit/tasks/ is longer than 15 lines.

A task function is one decorated with ``@task`` / ``@task(...)``, or handed to a
``task(...)(...)`` call (verify's generated tasks). Its length runs from the
``def`` line (decorators not counted) through its last line, docstring included.
The logic belongs in the library (local_stack, k8s_stack, verify, ...).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke.collection import Collection
from invoke.tasks import Task

import promkit.tasks
from promkit.tasks import namespace

TASKS_DIR = Path(promkit.tasks.__file__).parent
MODULES = sorted(path for path in TASKS_DIR.glob("*.py") if path.name != "__init__.py")
MAX_LINES = 15


def _is_task(node: ast.expr) -> bool:
    """``task`` or ``task(...)`` (also as ``invoke.task``)."""
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "task") or (
        isinstance(target, ast.Attribute) and target.attr == "task"
    )


def _handed_to_task(tree: ast.AST) -> set[str]:
    """Names used in the arguments of ``task(...)(ARGS)``: functions made tasks by a call."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Call) and _is_task(node.func):
            for arg in node.args:
                names |= {n.id for n in ast.walk(arg) if isinstance(n, ast.Name)}
    return names


def task_functions(source: str) -> Iterator[ast.FunctionDef]:
    """Every task function defined in ``source``, nested ones included."""
    tree = ast.parse(source)
    handed = _handed_to_task(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (
            any(_is_task(d) for d in node.decorator_list) or node.name in handed
        ):
            yield node


def length(function: ast.FunctionDef) -> int:
    """Lines from ``def`` through the last line of the body."""
    assert function.end_lineno is not None
    return function.end_lineno - function.lineno + 1


def too_long(source: str) -> list[str]:
    return [
        f"{fn.name} (line {fn.lineno}) is {length(fn)} lines"
        for fn in task_functions(source)
        if length(fn) > MAX_LINES
    ]


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_no_task_function_is_longer_than_15_lines(module: Path) -> None:
    assert too_long(module.read_text()) == [], f"move the logic of {module.name} into the library"


def _registered(collection: Collection) -> Iterator[Task]:
    yield from collection.tasks.values()
    for sub in collection.collections.values():
        yield from _registered(sub)


def test_every_task_of_the_namespace_is_measured() -> None:
    """The ast walk finds each task inv lists, so a new way of defining one cannot slip by."""
    measured = {(path.name, fn.name) for path in MODULES for fn in task_functions(path.read_text())}
    tasks = list(_registered(namespace()))
    bodies = [inspect.unwrap(found.body).__code__ for found in tasks]
    registered = {(Path(code.co_filename).name, code.co_name) for code in bodies}
    assert len(tasks) >= 20  # verify's tasks share one generated body
    assert registered <= measured, f"not measured: {sorted(registered - measured)}"


def test_a_long_task_is_caught_decorated_or_handed_to_task() -> None:
    body = [f"    x{i} = {i}" for i in range(13)]
    source = "\n".join(
        [
            '@task(help={"x": "y"})',
            "@reports_errors",
            "def long(c):",
            '    """Sixteen lines with this docstring."""',
            *body,
            "    return None",
            "",
            "def generated(c):",
            '    """Fifteen lines: fine."""',
            *body,
            "",
            "wrapped = task(help={})(reports_errors(generated))",
        ]
    )
    assert too_long(source) == ["long (line 3) is 16 lines"]
    assert sorted(fn.name for fn in task_functions(source)) == ["generated", "long"]
    assert too_long(source.replace("    x12 = 12\n    return None", "    x12 = 12")) == []
