"""The sample worker's simulated latency."""

from __future__ import annotations

import random

import pytest

from sample_app.worker import simulated_latency


def test_without_spread_every_job_takes_the_median_times_the_scale() -> None:
    rng = random.Random(7)
    assert [simulated_latency(6, 0, rng) for _ in range(20)] == [pytest.approx(3.0)] * 20


def test_with_spread_jobs_vary_and_stay_under_the_cap() -> None:
    rng = random.Random(7)
    seconds = [simulated_latency(2, 0.6, rng) for _ in range(200)]
    assert len(set(seconds)) > 100 and max(seconds) <= 10 and min(seconds) > 0
