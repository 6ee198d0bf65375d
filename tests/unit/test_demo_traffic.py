"""The sample stack's own demo traffic: pacing, bounds and the bodies it posts."""

from __future__ import annotations

import pytest

from sample_app import demo_traffic

TENANTS = ("acme", "globex")


class FakeClock:
    """A clock that moves only when slept on (or when a request 'takes' time)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_posts_at_the_rate_without_drifting_when_answers_are_slow() -> None:
    clock = FakeClock()
    sent: list[dict[str, str]] = []

    def send(url: str, body: dict[str, str]) -> str:
        sent.append(body)
        clock.now += 0.2  # each answer takes 200 ms
        return "202"

    count = demo_traffic.run(
        "http://app/webhook/servicedesk", 2.0, TENANTS, count=10, send=send,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert count == len(sent) == 10
    assert clock.now == pytest.approx(5.0), "10 webhooks at 2 a second take 5 s"
    assert all(s == pytest.approx(0.3) for s in clock.slept)


def test_a_failed_request_is_logged_and_paced_like_the_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    demo_traffic.run(
        "http://app/x", 1.0, TENANTS, count=3, send=lambda url, body: "no answer (refused)",
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert clock.now == pytest.approx(3.0), "no tight loop when the app is down"
    assert capsys.readouterr().err.count("no answer (refused)") == 3


def test_tenants_take_turns_and_one_in_25_is_invalid() -> None:
    bodies = [demo_traffic.ticket(i, TENANTS) for i in range(50)]
    assert [b["tenant_id"] for b in bodies[:3]] == ["acme", "globex", "acme"]
    invalid = [i for i, b in enumerate(bodies) if b["tenant_id"] == "Not A Slug!"]
    assert invalid == [24, 49]


@pytest.mark.parametrize("text", ["0", "-1", "5.5", "fast", "nan"])
def test_a_rate_out_of_bounds_is_refused_with_one_line(text: str) -> None:
    with pytest.raises(SystemExit, match="demo traffic rate must be"):
        demo_traffic.parse_rate(text)


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo_traffic.main(["not-a-url", "2"]) == 2
    assert "usage:" in capsys.readouterr().err
