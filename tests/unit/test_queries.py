"""Extracting the documented queries from the metrics guide."""

from __future__ import annotations

from pathlib import Path

import pytest

from promkit.core.errors import ConfigError
from promkit.core.settings import DEFAULTS, repo_path
from promkit.verify.queries import DocumentedQuery, load_guide, parse_guide

GUIDE = repo_path(DEFAULTS["queries"]["guide"])


def test_the_guide_documents_the_five_queries() -> None:
    queries = load_guide(GUIDE)
    assert [q.name for q in queries] == [
        "p95 latency",
        "Error rate",
        "Queue depth",
        "Success rate by tenant",
        "Request rate",
    ]
    by_name = {q.name: q.promql for q in queries}
    assert by_name["p95 latency"] == (
        "histogram_quantile(0.95, sum by (le) (rate(enhancement_duration_seconds_bucket[5m])))"
    )
    # Aggregated before dividing: the unaggregated ratio divides each series by itself.
    assert by_name["Error rate"].startswith('sum(rate(enhancement_requests_total{status="failure"}')
    assert "/ sum(rate(enhancement_requests_total[5m]))" in by_name["Error rate"]


def test_each_query_has_an_explanation_and_an_expected_shape() -> None:
    text = GUIDE.read_text()
    section = text.split("## Sample PromQL queries", 1)[1]
    for block in section.split("\n### ")[1:]:
        assert "Expected result:" in block, block.splitlines()[0]
        explanation = block.split("```promql", 1)[0].strip().splitlines()[1:]
        assert any(line.strip() for line in explanation), block.splitlines()[0]


GUIDE_TEXT = """# Guide

```promql
not_in_the_section
```

## Sample PromQL queries

Intro.

### First
```promql
up
```

```bash
echo not promql
```

#### Same name
```promql
sum by (job) (
  up
)
```

#### Same name
```promql
vector(1)
```

## Another section

```promql
after_the_section
```
"""


def test_only_promql_blocks_of_the_section_named_by_heading() -> None:
    assert parse_guide(GUIDE_TEXT) == [
        DocumentedQuery("First", "up", 13),
        DocumentedQuery("Same name", "sum by (job) (\n  up\n)", 22),
        DocumentedQuery("Same name (2)", "vector(1)", 29),
    ]


def test_query_without_heading_gets_a_number() -> None:
    text = "## Sample PromQL Queries\n```promql\nup\n```\n"
    assert parse_guide(text) == [DocumentedQuery("query 1", "up", 3)]


def test_heading_inside_a_code_block_is_not_a_heading() -> None:
    text = "```text\n## Sample PromQL queries\n```\n"
    with pytest.raises(ConfigError, match="no 'Sample PromQL queries' heading"):
        parse_guide(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# Nothing here\n", "no 'Sample PromQL queries' heading"),
        ("## Sample PromQL queries\nNone yet.\n", "has no ```promql blocks"),
        ("## Sample PromQL queries\n```promql\nup\n", "opened on line 2 is never closed"),
        ("## Sample PromQL queries\n```promql\n\n```\n", "block on line 2 is empty"),
    ],
)
def test_malformed_guides(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_guide(text)


def test_load_guide_names_the_file_and_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the metrics guide .*queries\.guide"):
        load_guide(tmp_path / "missing.md")
    empty = tmp_path / "empty.md"
    empty.write_text("# x\n")
    with pytest.raises(ConfigError, match=f"metrics guide {empty} \\(setting queries.guide\\)"):
        load_guide(empty)
