"""The mutation score of each pure judge, from mutmut's results: fails under 90% for any.

Run after ``mutmut run`` (``nox -s mutation`` runs both). It reads mutmut's record of each
mutant (``mutants/<source>.meta``) and prints, per module, killed / total, the survivors
by name, and exits 1 when a module scores under ``--minimum`` (90) or was not run.
The score is killed / total: a survivor counts against it even when it is equivalent
(docs/testing.md says why each one is).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

#: The judges mutated ([tool.mutmut] only_mutate in pyproject.toml).
MODULES = (
    "src/promkit/verify/checks.py",
    "src/promkit/verify/rule_checks.py",
    "src/promkit/verify/discovery.py",
    "src/promkit/verify/drift.py",
    "src/promkit/verify/wait.py",
)
#: mutmut's exit codes of a mutant's test run that mean the tests caught it
#: (1: a test failed, 3: pytest's internal error; mutmut.stats.status_by_exit_code).
KILLED = {1, 3}
NAMES = {
    0: "survived",
    None: "not checked",
    5: "no tests",
    33: "no tests",
    36: "timeout",
    -24: "timeout",
}


def module_stats(meta: Path) -> tuple[int, int, Counter[str], list[str]]:
    """(killed, total, other outcomes by name, survivors' names) of one module."""
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    killed = sum(1 for code in codes.values() if code in KILLED)
    others: Counter[str] = Counter(
        NAMES.get(code, f"exit {code}") for code in codes.values() if code not in KILLED
    )
    survivors = sorted(name for name, code in codes.items() if code not in KILLED)
    return killed, len(codes), others, survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minimum", type=float, default=90.0, help="percent (default 90)")
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder")
    parser.add_argument("--only", nargs="*", default=None, help="module stems, e.g. drift wait")
    args = parser.parse_args(argv)
    failed = []
    for module in MODULES:
        stem = Path(module).stem
        if args.only and stem not in args.only:
            continue
        meta = args.mutants / (module + ".meta")
        if not meta.is_file():
            print(f"{stem:12} not run ({meta} missing): run mutmut first")
            failed.append(stem)
            continue
        killed, total, others, survivors = module_stats(meta)
        score = 100.0 * killed / total if total else 0.0
        rest = ", ".join(f"{count} {name}" for name, count in sorted(others.items()))
        print(f"{stem:12} {score:5.1f}%  {killed}/{total} killed" + (f"; {rest}" if rest else ""))
        for name in survivors:
            print(f"    {name}")
        if score < args.minimum:
            failed.append(stem)
    if failed:
        print(f"under {args.minimum:g}% or not run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
