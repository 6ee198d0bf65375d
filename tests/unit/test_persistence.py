"""verify.persistence: does stored data predate the server's start? (payloads of Prometheus 2.42)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promkit.core.errors import PromkitError
from promkit.verify import checks
from promkit.verify import round as rounds
from promkit.verify.result import CheckResult, UnexpectedPayload, parse_time
from tests.support.examples import MUTATION, examples

# Recorded from the compose stack's Prometheus 2.42 (startTime 02:55:39Z), trimmed.
RUNTIME = {"startTime": "2026-11-28T02:55:39.526006894Z", "reloadConfigSuccess": True}
HEAD_BEFORE_START = {"headStats": {"numSeries": 766, "minTime": 1795834510783}}  # 02:55:10Z
LOWEST = {"resultType": "vector", "result": [{"metric": {}, "value": [1795834648.8, "1795834510"]}]}
EMPTY_HEAD = {"headStats": {"minTime": 9223372036854775807, "maxTime": -9223372036854775808}}
NO_RESULT = {"resultType": "vector", "result": []}


def test_data_older_than_the_start_passes_naming_both_times() -> None:
    result = checks.check_persistence(RUNTIME, HEAD_BEFORE_START, NO_RESULT)
    assert result.ok
    assert result.evidence == [
        "oldest stored sample 2026-11-28T02:55:10Z (TSDB head, /api/v1/status/tsdb) is 29s "
        "older than this server's start: data from before the (re)start is still there "
        "(Prometheus started at 2026-11-28T02:55:39Z)"
    ]


def test_blocks_count_through_the_lowest_timestamp_metric() -> None:
    # After compaction the head may start after the server did; the blocks are older.
    head_after_start = {"headStats": {"minTime": 1795834600000}}
    result = checks.check_persistence(RUNTIME, head_after_start, LOWEST)
    assert result.ok
    assert "(prometheus_tsdb_lowest_timestamp_seconds)" in result.evidence[0]


def test_a_first_start_is_red_and_says_what_could_have_lost_data() -> None:
    fresh = {"headStats": {"minTime": 1795834545000}}  # 02:55:45Z, after the start
    result = checks.check_persistence(RUNTIME, fresh, NO_RESULT)
    assert not result.ok
    assert result.evidence[0].startswith(
        "no stored sample predates this server's start (oldest 2026-11-28T02:55:45Z"
    )
    assert "keep the data volume" in result.evidence[0]


def test_an_empty_tsdb_is_red_not_an_error() -> None:
    result = checks.check_persistence(RUNTIME, EMPTY_HEAD, None)
    assert not result.ok
    assert result.evidence[0].startswith("the TSDB holds no samples yet")


def test_a_runtimeinfo_without_start_time_is_a_clean_error() -> None:
    with pytest.raises(PromkitError, match="runtimeinfo has no startTime"):
        checks.check_persistence({}, HEAD_BEFORE_START)


def test_persistence_is_asked_for_by_name_never_part_of_all() -> None:
    assert "persistence" not in rounds.NAMES
    assert rounds.check_names(["persistence", "health"]) == ("health", "persistence")


times = st.none() | st.sampled_from(
    ["2026-11-28T02:55:39.5Z", "0001-01-01T00:00:00Z", "yesterday", ""]
)
numbers = st.none() | st.integers() | st.floats() | st.text(max_size=8) | st.booleans()
json_like = st.recursive(
    numbers,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
runtimes = st.fixed_dictionaries({}, optional={"startTime": times | json_like}) | json_like
tsdbs = (
    st.fixed_dictionaries(
        {}, optional={"headStats": st.fixed_dictionaries({}, optional={"minTime": numbers})}
    )
    | json_like
)
series = st.fixed_dictionaries(
    {}, optional={"metric": st.just({}), "value": st.lists(numbers, max_size=3)}
)
queries = (
    st.fixed_dictionaries(
        {},
        optional={
            "resultType": st.sampled_from(["vector", "scalar", "x"]),
            "result": st.lists(series, max_size=3) | json_like,
        },
    )
    | json_like
)


SHAPE = "Prometheus answered an unexpected payload: "


def persistence_error(runtime: Any, tsdb: Any, lowest: Any) -> str | None:
    """The error check_persistence owes its answers, in the order it reads them (None: none)."""
    if not isinstance(runtime, Mapping):
        return SHAPE + "runtimeinfo data is not an object"
    if parse_time(runtime.get("startTime")) is None:
        return "runtimeinfo has no startTime: cannot tell when Prometheus started"
    if not isinstance(tsdb, Mapping):
        return SHAPE + "TSDB status data is not an object"
    if lowest is None:
        return None
    if not isinstance(lowest, Mapping):
        return SHAPE + "query data is not an object"
    result = lowest.get("result")
    if not isinstance(result, list):
        return SHAPE + "data.result is not a list"
    scalar = lowest.get("resultType") in ("scalar", "string")
    if not scalar and not all(isinstance(series, Mapping) for series in result):
        return SHAPE + "a query result series is not an object"
    return None


@settings(max_examples=examples(400), deadline=None, derandomize=MUTATION)
@given(runtimes, tsdbs, queries)
def test_any_payload_gives_a_result_or_the_error_its_shape_calls_for(
    runtime: Any, tsdb: Any, lowest: Any
) -> None:
    error = persistence_error(runtime, tsdb, lowest)
    try:
        result = checks.check_persistence(runtime, tsdb, lowest)
    except PromkitError as exc:
        assert type(exc) is UnexpectedPayload
        assert str(exc) == error, f"raised {exc!r}, expected {error!r}"
        return
    assert error is None, f"returned {result!r}, expected {error!r}"
    assert isinstance(result, CheckResult) and isinstance(result.ok, bool)
    assert len(result.evidence) == 1 and result.evidence[0]
    if result.ok:
        assert result.evidence[0].startswith("oldest stored sample ")
