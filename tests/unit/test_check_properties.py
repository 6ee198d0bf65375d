"""Arbitrary JSON-like payloads never crash a check: each input gets a CheckResult, or the
one UnexpectedPayload its shape calls for (class and message asserted, not any PromkitError).

The oracles below say, from the input alone, which error a check owes: the first shape
Prometheus never gives, in the order the check reads the payload.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from promkit.core.durations import parse_duration
from promkit.core.settings import JobExpectation
from promkit.verify import checks
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import Answer, CheckResult, UnexpectedPayload
from tests.support.examples import MUTATION, examples

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
        "scrape_configs: [{job_name: a, scrape_interval: nope}]",
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


#: The prefix of every shape error of promkit.verify.result.
SHAPE = "Prometheus answered an unexpected payload: "


def is_duration(value: Any) -> bool:
    try:
        parse_duration(str(value))
    except ValueError:
        return False
    return True


def outcome(call: Any, *args: Any) -> CheckResult | UnexpectedPayload:
    """What the check gives: a well-formed CheckResult, or the UnexpectedPayload it raised
    (any other exception, a PromkitError of another class included, fails the test)."""
    try:
        result = call(*args)
    except UnexpectedPayload as exc:
        assert type(exc) is UnexpectedPayload
        return exc
    assert isinstance(result, CheckResult)
    assert isinstance(result.ok, bool) and result.evidence
    assert all(isinstance(line, str) and line for line in result.evidence)
    return result


def expect(got: CheckResult | UnexpectedPayload, message: str | None) -> CheckResult | None:
    """``message`` None: ``got`` is a result (returned); else the error that starts so."""
    if message is None:
        assert isinstance(got, CheckResult), f"raised {got!r}, expected a result"
        return got
    assert isinstance(got, UnexpectedPayload), f"returned {got!r}, expected {message!r}"
    assert str(got).startswith(message), f"{got} does not start with {message!r}"
    return None


def first_not_object(*answers: tuple[Any, str]) -> str | None:
    """The error of the first answer, in the order a check reads them, that is no object."""
    for value, name in answers:
        if not isinstance(value, Mapping):
            return SHAPE + f"{name} data is not an object"
    return None


def targets_error(targets: Any) -> str | None:
    """What active_targets owes a /api/v1/targets answer (None: no error)."""
    if not isinstance(targets, Mapping):
        return SHAPE + "targets data is not an object"
    return objects_error(targets.get("activeTargets"), "data.activeTargets", "an active target")


def objects_error(value: Any, name: str, item: str) -> str | None:
    """What a list of objects the checks read (``value or []``) owes its shape."""
    listed = value or []
    if not isinstance(listed, list):
        return SHAPE + f"{name} is not a list"
    if not all(isinstance(entry, Mapping) for entry in listed):
        return SHAPE + f"{item} is not an object"
    return None


def config_error(text: str) -> tuple[str | None, Any]:
    """What parse_config owes a served configuration, and the mapping it is."""
    try:
        # The loader parse_config uses: libyaml's and PyYAML's disagree on odd texts ("0\t").
        config = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return "the served configuration is not valid YAML: ", None
    config = {} if config is None else config
    if not isinstance(config, Mapping):
        return SHAPE + "the served configuration is not an object", None
    return None, config


def scrape_configs_error(config: Mapping[str, Any]) -> str | None:
    return objects_error(config.get("scrape_configs"), "scrape_configs", "a scrape_configs entry")


def interval_error(text: str) -> str | None:
    """What check_interval owes a served configuration (the expectations are 15s)."""
    error, config = config_error(text)
    if error is not None:
        return error
    glob = config.get("global") or {}
    if not isinstance(glob, Mapping):
        return SHAPE + "global is not an object"
    scrape = str(glob.get("scrape_interval", "1m"))
    for key in ("scrape_interval", "evaluation_interval"):
        value = str(glob.get(key, "1m"))
        if not is_duration(value):
            return f"global.{key} is {value!r}, not a Prometheus duration"
    error = scrape_configs_error(config)
    if error is not None:
        return error
    for job in config.get("scrape_configs") or []:
        value = str(job.get("scrape_interval", scrape))
        if not is_duration(value):
            name = job.get("job_name")
            shown = name if isinstance(name, str) and name else "?"
            return f"scrape_interval of job {shown} is {value!r}, not a Prometheus duration"
    return None


@settings(max_examples=examples(300), deadline=None, derandomize=MUTATION)
@given(st.one_of(info_payload, payloads), st.one_of(info_payload, payloads))
def test_runs(buildinfo: Any, runtimeinfo: Any) -> None:
    got = outcome(checks.check_runs, buildinfo, runtimeinfo)
    result = expect(got, first_not_object((buildinfo, "buildinfo"), (runtimeinfo, "runtimeinfo")))
    if result is not None:
        assert result.ok is (runtimeinfo.get("reloadConfigSuccess") is not False)
        assert result.evidence[0].startswith("Prometheus ")


@settings(max_examples=examples(300), deadline=None, derandomize=MUTATION)
@given(answers, answers, st.floats(0, 1000))
def test_health(healthy: Answer, ready: Answer, budget: float) -> None:
    result = expect(outcome(checks.check_health, healthy, ready, budget), None)
    assert result is not None and len(result.evidence) == 2
    assert result.ok is all(a.status == 200 and a.elapsed_ms <= budget for a in (healthy, ready))


def _job_of(target: Mapping[str, Any]) -> str:
    pool, labels = target.get("scrapePool"), target.get("labels")
    job = labels.get("job") if isinstance(labels, Mapping) else None
    return (pool if isinstance(pool, str) else "") or (job if isinstance(job, str) else "") or "?"


@settings(max_examples=examples(500), deadline=None, derandomize=MUTATION)
@given(st.one_of(targets_payload, targets_payload, payloads), st.none() | yaml_texts)
def test_jobs(targets: Any, config: str | None) -> None:
    jobs = (JobExpectation("a"), JobExpectation("up", 1, exact=2))
    got = outcome(checks.check_jobs, targets, config, jobs)
    error = targets_error(targets)
    parsed = None
    if error is None and config is not None:
        error, parsed = config_error(config)
    if error is not None:
        expect(got, error)
        return
    if isinstance(got, UnexpectedPayload):
        # Only a job without targets reads the scrape jobs, and only a bad list fails it.
        assert parsed is not None and scrape_configs_error(parsed) == str(got)
        return
    counts = [_job_of(t) for t in targets.get("activeTargets") or []]
    assert got.ok is (counts.count("a") >= 1 and counts.count("up") == 2)
    assert len(got.evidence) == 2
    assert got.evidence[0].startswith("job a has ") and got.evidence[1].startswith("job up has ")


@settings(max_examples=examples(500), deadline=None, derandomize=MUTATION)
@given(st.one_of(targets_payload, targets_payload, payloads), st.floats(0, 1000))
def test_targets(targets: Any, budget: float) -> None:
    got = outcome(checks.check_targets, targets, budget, checks.utc_now())
    result = expect(got, targets_error(targets))
    if result is None:
        return
    active = targets.get("activeTargets") or []
    if not active:
        assert not result.ok
        assert result.evidence == ["Prometheus has no active targets at all"]
    elif result.ok:
        assert all(t.get("health") == "up" and not t.get("lastError") for t in active)
        assert len(result.evidence) == len(active)


@settings(max_examples=examples(300), deadline=None, derandomize=MUTATION)
@given(yaml_texts)
def test_interval(config: str) -> None:
    result = expect(outcome(checks.check_interval, config, "15s", "15s"), interval_error(config))
    if result is not None:
        assert result.evidence[0].startswith("global scrape_interval is ")
        assert result.evidence[1].startswith("global evaluation_interval is ")


def _retention_days(shown: Any) -> float | None:
    """The first time part of storageRetention, in days (None: there is none)."""
    text = shown if isinstance(shown, str) else ""
    for part in (p.strip() for p in text.split(" or ") if p.strip()):
        if is_duration(part) and not part.endswith("B"):
            return parse_duration(part) / 86400
    return None


@settings(max_examples=examples(500), deadline=None, derandomize=MUTATION)
@given(st.one_of(info_payload, payloads), st.one_of(flags_payload, payloads))
def test_retention(runtimeinfo: Any, flags: Any) -> None:
    got = outcome(checks.check_retention, runtimeinfo, flags, "30d")
    result = expect(got, first_not_object((runtimeinfo, "runtimeinfo"), (flags, "flags")))
    if result is not None:
        assert result.evidence[0].startswith("storageRetention is ")
        days = _retention_days(runtimeinfo.get("storageRetention"))
        if days is not None and not math.isclose(days, 30):
            assert not result.ok
        if result.ok:
            assert days is not None and math.isclose(days, 30)


@settings(max_examples=examples(300), deadline=None, derandomize=MUTATION)
@given(answers, st.none() | answers, st.none() | answers)
def test_ui(root: Answer, targets: Answer | None, asset: Answer | None) -> None:
    result = expect(outcome(checks.check_ui, root, targets, asset), None)
    assert result is not None
    if result.ok:
        assert root.status == 200 and asset is not None and asset.status == 200
        assert targets is None or targets.status == 200
    if root.status != 200:
        assert not result.ok and f"answered {root.status}, expected 200" in result.evidence[0]


@settings(max_examples=examples(500), deadline=None, derandomize=MUTATION)
@given(st.one_of(query_payload, query_payload, payloads), st.none() | st.text(max_size=20))
def test_query(data: Any, error: str | None) -> None:
    query = DocumentedQuery("q", "up", 1)
    got = outcome(checks.check_query, query, data, error)
    if error is not None:
        result = expect(got, None)
        assert result is not None and not result.ok
        assert result.final is error.startswith("bad_data:")
        assert result.evidence == [f"query 'q' (line 1) failed: {error}", "up"]
        return
    if not isinstance(data, Mapping):
        expect(got, SHAPE + "query data is not an object")
    elif not isinstance(data.get("result"), list):
        expect(got, SHAPE + "data.result is not a list")
    elif data.get("resultType") not in ("scalar", "string") and not all(
        isinstance(series, Mapping) for series in data["result"]
    ):
        expect(got, SHAPE + "a query result series is not an object")
    else:
        result = expect(got, None)
        assert result is not None
        if not data["result"]:
            assert not result.ok and "returned no data" in result.evidence[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scrape_configs: 3", SHAPE + "scrape_configs is not a list"),
        ("global: [1]", SHAPE + "global is not an object"),
        ("- a\n- b", SHAPE + "the served configuration is not an object"),
        ("a: [1", "the served configuration is not valid YAML: "),
        (
            "scrape_configs: [{job_name: a, scrape_interval: nope}]",
            "scrape_interval of job a is 'nope', not a Prometheus duration",
        ),
        ("global: {evaluation_interval: soon}", "global.evaluation_interval is 'soon', not a"),
    ],
)
def test_the_oracle_names_the_errors_check_interval_raises(text: str, message: str) -> None:
    """The oracle itself is checked against inputs whose error is known."""
    assert str(interval_error(text)).startswith(message)
    expect(outcome(checks.check_interval, text, "15s", "15s"), message)
