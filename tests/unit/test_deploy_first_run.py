"""deploy.local on a first run: missing images, taken ports, demo traffic, failed starts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit
from test_local_tasks import PROM_IMAGE, PS_HEALTHY
from test_local_tasks import healthy_stack as local_stack_answers

from promkit.local import images
from promkit.local.images import APP_IMAGE
from promkit.tasks import deploy
from tests.support import taken_port
from tests.support.mockctx import COMPOSE, commands, result

Build = Callable[..., MockContext]
#: The stack's offline images (not the base they are built on), and the app's own.
OFFLINE_TAGS = "promkit/(prometheus|alertmanager|redis|sample-app):.*"


def healthy_stack(**overrides: object) -> dict[str, object]:
    """A healthy stack's answers; promtool from PATH when the image is still missing."""
    return local_stack_answers(**{r"(\S*/)?promtool check config ": result("SUCCESS"), **overrides})


@pytest.fixture(autouse=True)
def _no_wheelhouse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "fill_wheelhouse", lambda c, dry_run=False: None)


@pytest.fixture
def listener() -> Iterator[int]:
    """A port on 127.0.0.1 that this test process listens on."""
    with taken_port() as port:
        yield port


def model_publishing(port: int) -> str:
    services = {
        "prometheus": {
            "image": PROM_IMAGE,
            "ports": [{"host_ip": "127.0.0.1", "published": str(port), "target": 9090}],
        },
        "app": {"image": APP_IMAGE},
    }
    return json.dumps({"services": services})


def ran_up(c: MockContext) -> bool:
    return any(f"{COMPOSE} up " in cmd for cmd in commands(c))


@pytest.mark.usefixtures("debootstrap_on_path")
def test_missing_images_are_pulled_and_built_saying_which(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = mock_context(
        healthy_stack(
            **{
                rf"docker image inspect ({PROM_IMAGE}|{APP_IMAGE})$": result(exited=1),
                r"docker pull ": result(),
                r"docker build --tag ": result(),
            }
        ),
        images={"offline": False},
    )
    deploy.local(c)
    ran = commands(c)
    assert f"docker pull {PROM_IMAGE}" in ran
    assert any(cmd.startswith(f"docker build --tag {APP_IMAGE} ") for cmd in ran)
    assert "docker pull redis:7.4.1-alpine" not in ran, "only what is missing"
    out = capsys.readouterr().out
    assert f"not present yet: {APP_IMAGE} (app, worker), {PROM_IMAGE} (prometheus)" in out
    assert ran_up(c)


def test_an_image_that_cannot_be_pulled_is_one_line_and_nothing_starts(
    mock_context: Build,
) -> None:
    c = mock_context(
        healthy_stack(
            **{
                rf"docker image inspect {PROM_IMAGE}$": result(exited=1),
                r"docker pull ": result(exited=1, stderr="dial tcp: lookup registry: no such host"),
            }
        ),
        images={"offline": "false"},
    )
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    message = str(exc.value.message)
    assert exc.value.code == 2
    assert f"cannot pull {PROM_IMAGE}" in message
    assert "no such host" in message
    assert "images.offline: true" in message and "nothing was started" in message
    assert "\n" not in message
    assert not ran_up(c)


@pytest.mark.usefixtures("debootstrap_on_path")
def test_auto_builds_the_offline_images_when_a_pull_fails(
    mock_context: Build,
    compose_env: Path,
    prometheus_binaries: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = mock_context(
        healthy_stack(
            **{
                rf"docker image inspect ({PROM_IMAGE}|{OFFLINE_TAGS})$": result(exited=1),
                r"docker pull ": result(exited=1, stderr="no such host"),
                r"docker build --network none ": result(),
            }
        )
    )
    deploy.local(c)
    ran = commands(c)
    built = [cmd for cmd in ran if cmd.startswith("docker build --network none")]
    assert len(built) == len(images.OFFLINE_IMAGES)
    assert "images.offline: auto" in capsys.readouterr().out
    assert compose_env.is_file(), "compose now names the offline images"
    # The model is rendered again, so the deploy checks and runs what was just built.
    assert sum(cmd == f"{COMPOSE} config --format json" for cmd in ran) == 2
    assert ran_up(c)


@pytest.mark.parametrize(
    ("path", "expected", "ran_debootstrap"),
    [
        ("debootstrap_on_path", "must be run as root", True),
        ("no_debootstrap", "debootstrap not found: `apt-get install debootstrap` (as root)", False),
    ],
)
def test_offline_builds_fail_as_one_line_naming_the_fix(
    request: pytest.FixtureRequest,
    path: str,
    expected: str,
    ran_debootstrap: bool,
    mock_context: Build,
    compose_env: Path,
    prometheus_binaries: Path,
) -> None:
    request.getfixturevalue(path)
    c = mock_context(
        healthy_stack(
            **{
                r"docker image inspect ": result(exited=1),
                r"docker pull ": result(exited=1, stderr="no such host"),
                r"debootstrap ": result(exited=1, stderr="E: debootstrap must be run as root"),
                r"(rm|mkdir) ": result(),
            }
        ),
        images={"cache_dir": str(compose_env.parent)},
    )
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    message = str(exc.value.message)
    assert "could not build the offline images, nothing was started" in message
    assert expected in message
    assert any("debootstrap " in cmd for cmd in commands(c)) is ran_debootstrap
    assert not ran_up(c)


def offline_stack(mock_context: Build, lacking: str) -> MockContext:
    """A healthy stack with images.offline: true, Docker lacking the images ``lacking`` matches."""
    answers = healthy_stack(**{rf"docker image inspect {lacking}$": result(exited=1)})
    return mock_context(answers, images={"offline": True})


@pytest.mark.usefixtures("debootstrap_on_path")
def test_offline_images_built_for_another_project_are_used_not_rebuilt(
    mock_context: Build, compose_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = offline_stack(mock_context, lacking=PROM_IMAGE)
    deploy.local(c)
    assert not any(cmd.startswith(("docker build", "docker pull")) for cmd in commands(c))
    written = compose_env.read_text()
    assert all(f"{image.variable}={image.tag}\n" in written for image in images.OFFLINE_IMAGES)
    assert "not built yet: prom/prometheus:v3.16.0 (prometheus)" in capsys.readouterr().out
    assert ran_up(c)


def test_offline_dry_run_builds_nothing(
    mock_context: Build, compose_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = offline_stack(mock_context, lacking=OFFLINE_TAGS)
    deploy.local(c, dry_run=True)
    assert not any(cmd.startswith(("docker build", "bash ")) for cmd in commands(c))
    out = capsys.readouterr().out
    assert "[dry-run] docker build --network none" in out
    assert not compose_env.exists()


def publishing_stack(mock_context: Build, port: int, holder: str) -> MockContext:
    """A stack publishing ``port``; ``docker ps --filter publish`` answers ``holder``."""
    answers = {
        rf"{COMPOSE} config --format json": result(model_publishing(port)),
        r"docker ps --filter publish=": result(holder),
    }
    return mock_context(healthy_stack(**answers))


def test_a_taken_port_stops_the_deploy_before_anything_is_created(
    mock_context: Build, listener: int
) -> None:
    c = publishing_stack(mock_context, listener, "")
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    message = str(exc.value.message)
    assert exc.value.code == 2
    assert f"port 127.0.0.1:{listener} of service prometheus is already in use" in message
    me = psutil.Process(os.getpid()).name()
    assert f"by {me} (pid {os.getpid()})" in message, "names the process holding it"
    assert "PROMKIT_PROMETHEUS_PORT=<free port>" in message
    assert "nothing was created" in message
    assert not any(
        cmd.startswith(("docker pull", "docker build", "docker run")) for cmd in commands(c)
    )
    assert not ran_up(c)


@pytest.mark.parametrize(
    ("holder", "refused"),
    [
        ("monitoring\tmonitoring-prometheus-1", "in use by container monitoring-prometheus-1"),
        ("promkit\tpromkit-prometheus-1", None),
    ],
    ids=["another-project", "this-project"],
)
def test_a_port_a_container_publishes_is_refused_unless_it_is_this_projects(
    mock_context: Build, listener: int, holder: str, refused: str | None
) -> None:
    c = publishing_stack(mock_context, listener, holder)
    if refused is None:
        deploy.local(c)
        assert ran_up(c)
        return
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    assert refused in str(exc.value.message)
    assert not ran_up(c)


@pytest.mark.parametrize(("rate", "scale"), [(2, ""), (0.5, ""), (0, " --scale demo-traffic=0")])
def test_demo_traffic_rate_reaches_compose_and_zero_turns_it_off(
    mock_context: Build, rate: float, scale: str
) -> None:
    c = mock_context(healthy_stack(), traffic={"demo_rate": rate})
    deploy.local(c)
    up = next(call for call in c.run.call_args_list if f"{COMPOSE} up " in call.args[0])
    assert up.args[0].endswith(f"--remove-orphans{scale}")
    assert up.kwargs["env"]["PROMKIT_DEMO_TRAFFIC_RATE"] == f"{rate or 1:g}"


@pytest.mark.parametrize("rate", [6, -1, "fast"])
def test_an_out_of_range_demo_rate_is_one_clear_line(mock_context: Build, rate: object) -> None:
    c = mock_context(healthy_stack(), traffic={"demo_rate": rate})
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    assert exc.value.code == 2
    assert "traffic.demo_rate" in str(exc.value.message)
    assert commands(c) == [], "settings are checked before any command runs"


def test_a_failed_first_deploy_removes_what_it_created(mock_context: Build) -> None:
    c = mock_context(
        healthy_stack(
            **{
                rf"{COMPOSE} ps --format json --all": [result(""), result(PS_HEALTHY), result("")],
                rf"{COMPOSE} up ": result(exited=1, stderr="bind: address already in use"),
            }
        )
    )
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    message = str(exc.value.message)
    assert "removed the containers and network it had created" in message
    assert "inv destroy.local --volumes" in message
    assert commands(c)[-1] == f"{COMPOSE} down --remove-orphans"


def test_a_failed_update_says_what_is_left_and_how_to_remove_it(mock_context: Build) -> None:
    unhealthy = PS_HEALTHY.replace('"Health": "healthy"', '"Health": "unhealthy"', 1)
    c = mock_context(
        healthy_stack(
            **{
                rf"{COMPOSE} ps --format json --all": [
                    result(PS_HEALTHY),
                    result(unhealthy),
                    result(unhealthy),
                ],
                rf"{COMPOSE} logs ": result("prometheus | boom"),
                rf"{COMPOSE} up ": result(exited=1, stderr="container is unhealthy"),
            }
        )
    )
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    message = str(exc.value.message)
    assert "left as it is now: prometheus (running), app (running)" in message
    assert "`inv destroy.local` removes it" in message
    assert not any(" down" in cmd for cmd in commands(c))
