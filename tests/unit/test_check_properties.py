"""Arbitrary JSON-like payloads never crash a check: a CheckResult or a clean PromkitError."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from promkit.core.errors import PromkitError
from promkit.core.settings import JobExpectation
from promkit.verify import checks
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import Answer, CheckResult

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
#: Keys Prometheus uses, so generated payloads reach past the first shape test.
keys = st.sampled_from(
    [
        "activeTargets",
        "droppedTargets",
        "droppedTargetCounts",
        "labels",
        "job",
        "instance",
        "scrapePool",
        "health",
        "lastError",
        "lastScrape",
        "lastScrapeDuration",
        "discoveredLabels",
        "storageRetention",
        "reloadConfigSuccess",
        "version",
        "resultType",
        "result",
        "metric",
        "value",
        "values",
        "storage.tsdb.retention.time",
        "storage.tsdb.retention.size",
        "a",  # an expected job name in test_jobs
    ]
) | st.text(max_size=6)
shaped = st.recursive(
    scalars
    | st.sampled_from(
        [
            "up",
            "down",
            "unknown",
            "15s",
            "30d",
            "30d or 1GiB",
            "vector",
            "2026-11-28T02:09:50.47701304Z",
            "NaN",
            "0.25",
        ]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)
values = scalars | st.sampled_from(
    [
        "up",
        "down",
        "unknown",
        "a",
        "15s",
        "30d or 1GiB",
        "0.5",
        "2026-11-28T02:09:50.47701304Z",
        "0001-01-01T00:00:00Z",
    ]
)


def maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of Prometheus' shape, any field missing or of any value."""
    return st.fixed_dictionaries({}, optional={k: v | json_like for k, v in fields.items()})


labels = maybe(job=values, instance=values)
target = maybe(
    labels=labels,
    discoveredLabels=labels,
    scrapePool=values,
    health=values,
    lastError=values,
    lastScrape=values,
    lastScrapeDuration=values,
)
targets_payload = maybe(
    activeTargets=st.lists(target, max_size=4),
    droppedTargets=st.lists(target, max_size=3),
    droppedTargetCounts=st.dictionaries(
        st.sampled_from(["a", "up"]),
        st.sampled_from(["0.5", "3", "x", 2, 1.5, -1, None, True, 1e300]) | values,
        min_size=1,
    ),
)
series = maybe(
    metric=st.dictionaries(st.text(max_size=4), values, max_size=2),
    value=st.lists(values, max_size=3),
    values=st.lists(st.lists(values, max_size=3)),
)
query_payload = maybe(
    resultType=st.sampled_from(["vector", "matrix", "scalar", "string", "x"]),
    result=st.lists(series, max_size=3) | st.lists(values, max_size=3),
)
info_payload = maybe(
    version=values,
    startTime=values,
    reloadConfigSuccess=values,
    lastConfigTime=values,
    storageRetention=values,
)
flags_payload = st.dictionaries(
    st.sampled_from(
        ["storage.tsdb.retention.time", "storage.tsdb.retention", "storage.tsdb.retention.size"]
    ),
    values,
    max_size=3,
)
payloads = json_like | shaped | targets_payload | query_payload | info_payload | flags_payload
yaml_texts = st.text(max_size=80) | st.sampled_from(
    [
        "global: {scrape_interval: 15s}\nscrape_configs: [{job_name: a, scrape_interval: nope}]",
        "scrape_configs: 3",
        "global: []",
        "- a\n- b",
        "",
        "scrape_configs: [{job_name: 1}]",
    ]
)
answers = st.builds(
    Answer,
    st.text(max_size=5),
    st.just("http://h/x"),
    st.integers(100, 599),
    st.floats(0, 1e6),
    st.text(max_size=20),
    st.text(max_size=60),
)


def returns_result_or_clean_error(call: Any, *args: Any) -> None:
    try:
        result = call(*args)
    except PromkitError as exc:
        assert str(exc)
        return
    assert isinstance(result, CheckResult)
    assert isinstance(result.ok, bool) and all(isinstance(line, str) for line in result.evidence)


@settings(max_examples=300, deadline=None)
@given(st.one_of(info_payload, payloads), st.one_of(info_payload, payloads))
def test_runs(buildinfo: Any, runtimeinfo: Any) -> None:
    returns_result_or_clean_error(checks.check_runs, buildinfo, runtimeinfo)


@settings(max_examples=300, deadline=None)
@given(answers, answers, st.floats(0, 1000))
def test_health(healthy: Answer, ready: Answer, budget: float) -> None:
    returns_result_or_clean_error(checks.check_health, healthy, ready, budget)


@settings(max_examples=500, deadline=None)
@given(st.one_of(targets_payload, targets_payload, payloads), st.none() | yaml_texts)
def test_jobs(targets: Any, config: str | None) -> None:
    jobs = (JobExpectation("a"), JobExpectation("up", 1, exact=2))
    returns_result_or_clean_error(checks.check_jobs, targets, config, jobs)


@settings(max_examples=500, deadline=None)
@given(st.one_of(targets_payload, targets_payload, payloads), st.floats(0, 1000))
def test_targets(targets: Any, budget: float) -> None:
    returns_result_or_clean_error(checks.check_targets, targets, budget, checks.utc_now())


@settings(max_examples=300, deadline=None)
@given(yaml_texts)
def test_interval(config: str) -> None:
    returns_result_or_clean_error(checks.check_interval, config, "15s", "15s")


@settings(max_examples=500, deadline=None)
@given(st.one_of(info_payload, payloads), st.one_of(flags_payload, payloads))
def test_retention(runtimeinfo: Any, flags: Any) -> None:
    returns_result_or_clean_error(checks.check_retention, runtimeinfo, flags, "30d")


@settings(max_examples=300, deadline=None)
@given(answers, st.none() | answers, st.none() | answers)
def test_ui(root: Answer, targets: Answer | None, asset: Answer | None) -> None:
    returns_result_or_clean_error(checks.check_ui, root, targets, asset)


@settings(max_examples=500, deadline=None)
@given(st.one_of(query_payload, query_payload, payloads), st.none() | st.text(max_size=20))
def test_query(data: Any, error: str | None) -> None:
    returns_result_or_clean_error(checks.check_query, DocumentedQuery("q", "up", 1), data, error)
