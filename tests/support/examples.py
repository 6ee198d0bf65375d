"""How many examples a Hypothesis property runs: fewer, fixed ones under mutation testing.

nox -s mutation runs the unit tests against each of some 3,500 mutants (PROMKIT_MUTATION=1):
there, a tenth of the examples, the same ones every run.
"""

from __future__ import annotations

import os

MUTATION = os.environ.get("PROMKIT_MUTATION") == "1"


def examples(count: int) -> int:
    """``count`` normally; a tenth of it (at least 30) under mutation testing."""
    return max(30, count // 10) if MUTATION else count
