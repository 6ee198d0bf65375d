"""runner, settings and durations: the pieces every task stands on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from invoke.config import Config
from invoke.context import Context, MockContext

from promkit.core import runner
from promkit.core.durations import format_duration, parse_duration
from promkit.core.errors import ConfigError, PromkitError
from promkit.core.settings import JobExpectation, expectations
from tests.support.mockctx import commands, promkit_config, result

Build = Callable[..., MockContext]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15),
        ("1m30s", 90),
        ("30d", 2_592_000),
        ("2w", 1_209_600),
        ("1y", 31_536_000),
        ("500ms", 0.5),
        ("1h0m0s", 3600),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "15 s", "-1s", "1.5h", "s", "30D", "1s1m"])
def test_parse_duration_rejects_non_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Prometheus duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(15, "15s"), (90, "1m30s"), (2_592_000, "30d"), (0.25, "250ms"), (0, "0s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert seconds == 0 or parse_duration(text) == seconds


def test_run_echoes_nothing_and_runs_nothing_in_dry_run(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = mock_context({})
    done = runner.run(c, ["docker", "compose", "down", "--volumes"], dry_run=True)
    assert done.ok and commands(c) == []
    assert capsys.readouterr().out == "[dry-run] docker compose down --volumes\n"


def test_run_echoes_a_hidden_command_under_echo_and_hides_its_output(
    capfd: pytest.CaptureFixture[str],
) -> None:
    c = Context(Config(overrides={"run": {"echo": True, "echo_format": "+ {command}"}}))
    done = runner.run(c, ["echo", "the output"])
    assert done.stdout == "the output\n"
    assert capfd.readouterr().out == "+ echo 'the output'\n"


def test_run_quotes_arguments_instead_of_using_a_shell_string(mock_context: Build) -> None:
    c = mock_context({r".*": result()})
    runner.run(c, ["promtool", "check", "config", "/tmp/my config.yml; rm -rf /"])
    assert commands(c) == ["promtool check config '/tmp/my config.yml; rm -rf /'"]


def test_failed_command_carries_exit_code_and_last_error_line(mock_context: Build) -> None:
    c = mock_context({r".*": result(exited=3, stderr="warning: x\nerror: the real reason\n")})
    with pytest.raises(runner.CommandFailed) as exc:
        runner.run(c, ["kubectl", "apply", "-k", "k8s"], what="applying k8s/")
    assert str(exc.value) == "applying k8s/ (exit 3): error: the real reason"
    assert exc.value.completed.exit_code == 3


def test_unchecked_failure_is_returned(mock_context: Build) -> None:
    c = mock_context({r".*": result(exited=1)})
    assert not runner.run(c, ["docker", "image", "inspect", "x"], check=False).ok


def test_missing_program_is_a_clear_error(mock_context: Build) -> None:
    c = mock_context({r".*": result(exited=127, stderr="sh: 1: kubectl: not found")})
    with pytest.raises(runner.CommandNotFound, match="kubectl not found on PATH"):
        runner.run(c, ["kubectl", "version"])


def test_default_expectations_match_the_acceptance_list() -> None:
    expect = expectations(promkit_config())
    assert expect.jobs == (JobExpectation("fastapi-app", 1), JobExpectation("celery-workers", 1))
    assert (expect.scrape_interval, expect.evaluation_interval) == ("15s", "15s")
    assert expect.retention == "30d"
    assert (expect.health_latency_ms, expect.scrape_duration_ms) == (50.0, 100.0)


def test_exact_and_minimum_target_counts() -> None:
    jobs = {"kubernetes-pods": {"exact": 3}, "x": {"min": 2}, "off": {"exact": 0}}
    config = promkit_config(expect={"jobs": jobs})
    assert expectations(config).jobs == (
        JobExpectation("kubernetes-pods", minimum=3, exact=3),
        JobExpectation("x", minimum=2),
        # {exact: 0} alone is a job held to no targets: at least 0, not the default 1.
        JobExpectation("off", minimum=0, exact=0),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retention": "thirty days"}, "setting 'expect.retention': 'thirty days' is not"),
        ({"scrape_interval": 15}, "setting 'expect.scrape_interval'"),
        ({"health_latency_ms": "fast"}, "setting 'expect.health_latency_ms' must be a number"),
        ({"scrape_duration_ms": -5}, "setting 'expect.scrape_duration_ms' must be more than 0 ms"),
        ({"jobs": ["fastapi-app"]}, "setting 'expect.jobs' must map job names"),
        ({"jobs": {"a": {"max": 3}}}, "setting 'expect.jobs.a' has unknown keys ['max']"),
        ({"jobs": {"a": True}}, "setting 'expect.jobs.a' must be a count"),
    ],
)
def test_bad_expectations_name_the_setting(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        expectations(promkit_config(expect=overrides))
    assert message in str(exc.value)
    assert isinstance(exc.value, PromkitError) and exc.value.exit_code == 2


@pytest.mark.parametrize(
    ("argv", "context"),
    [
        (["deploy.k8s", "verify.all", "--context", "kwok-e2e"], "kwok-e2e"),
        (["deploy.k8s", "--context=a", "verify.all", "--context", "a"], "a"),
        (["deploy.k8s", "--context", "a", "verify.all", "--context", "b"], None),
        (["deploy.k8s", "verify.all"], None),
        (["deploy.k8s", "--context"], None),
    ],
)
def test_context_on_command_line(argv: list[str], context: str | None) -> None:
    from promkit.tasks.common import context_on_command_line

    assert context_on_command_line(argv) == context


def test_kubernetes_expectations_replace_the_compose_jobs() -> None:
    expect = expectations(promkit_config(), kubernetes=True)
    assert expect.jobs == (JobExpectation("kubernetes-pods", 2), JobExpectation("prometheus", 1))
    scaled = promkit_config(k8s={"expect_jobs": {"kubernetes-pods": "=4", "prometheus": None}})
    assert expectations(scaled, kubernetes=True).jobs == (
        JobExpectation("kubernetes-pods", minimum=4, exact=4),
    )


def test_tasks_capture_large_outputs_whole_through_the_large_reads_runner(tmp_path: Path) -> None:
    from invoke.config import Config
    from invoke.context import Context

    from promkit.tasks import namespace

    configured = namespace().configuration()["runners"]["local"]
    assert configured is runner.LargeReadsLocal and configured.read_chunk_size == 65536
    big = tmp_path / "big.json"
    big.write_text("".join(f'{{"pod": {i}, "padding": "{"x" * 200}"}}\n' for i in range(20_000)))
    config = Config(overrides={"runners": {"local": configured}})
    done = runner.run(Context(config=config), ["cat", str(big)])
    assert done.stdout == big.read_text()


def test_the_large_reads_runner_still_answers_watchers() -> None:
    from invoke.config import Config
    from invoke.context import Context
    from invoke.watchers import Responder

    config = Config(overrides={"runners": {"local": runner.LargeReadsLocal}})
    asks = "printf 'name? '; read answer; echo \"hello $answer\""
    answer = Responder(pattern=r"name\? ", response="promkit\n")
    done = Context(config=config).run(asks, watchers=[answer], hide=True, in_stream=False)
    assert done.stdout.endswith("hello promkit\n")
