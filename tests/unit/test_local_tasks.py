"""deploy.local, destroy.local, status.local and images.build: the exact commands they run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit

from promkit.core.settings import data_path
from promkit.local.images import APP_IMAGE
from promkit.tasks import deploy, destroy, status
from tests.support.mockctx import COMPOSE, COMPOSE_ANY_ENV, UNIT_STATE, commands, result

PROM_IMAGE = "prom/prometheus:v3.16.0"
MODEL = json.dumps(
    {
        "services": {
            "prometheus": {"image": PROM_IMAGE},
            "app": {"image": APP_IMAGE},
            "worker": {"image": APP_IMAGE},
            "redis": {"image": "redis:7.4.1-alpine"},
        }
    }
)
PS_HEALTHY = "\n".join(
    json.dumps(
        {
            "Service": name,
            "Name": f"promkit-{name}-1",
            "State": "running",
            "Health": "healthy",
            "Ports": "",
        }
    )
    for name in ("prometheus", "app", "worker", "redis")
)
Build = Callable[..., MockContext]


def healthy_stack(**overrides: object) -> dict[str, object]:
    """Responses of a healthy stack; ``overrides`` (regex -> result) are tried first."""
    defaults: dict[str, object] = {
        r"docker compose version --short": result("2.40.3"),
        r"docker info --format": result("20.10.24"),
        rf"{COMPOSE_ANY_ENV} config --format json": result(MODEL),
        r"docker image inspect ": result("[{}]"),
        r"docker run --rm --network none --user 65534:65534 --entrypoint /bin/promtool ": result(
            " SUCCESS: /etc/prometheus/prometheus.yml is valid"
        ),
        rf"{COMPOSE} up ": result(),
        rf"{COMPOSE} down": result(),
        rf"{COMPOSE} ps --format json --all": result(PS_HEALTHY),
    }
    responses = dict(overrides)
    for pattern, value in defaults.items():
        responses.setdefault(pattern, value)
    return responses


def test_deploy_local_validates_then_starts_and_waits(mock_context: Build) -> None:
    c = mock_context(healthy_stack())
    deploy.local(c)
    ran = commands(c)
    assert ran[:3] == [
        "docker compose version --short",
        "docker info --format '{{.ServerVersion}}'",
        f"{COMPOSE} config --format json",
    ]
    assert f"docker image inspect {APP_IMAGE}" in ran
    promtool = next(cmd for cmd in ran if "/bin/promtool" in cmd)
    assert promtool.endswith(
        f"--volume {data_path('config/prometheus')}:/etc/prometheus:ro {PROM_IMAGE} "
        "check config /etc/prometheus/prometheus.yml"
    )
    assert ran[-1] == f"{COMPOSE} up --detach --wait --wait-timeout 180 --remove-orphans"
    assert ran.index(promtool) < len(ran) - 1


def test_deploy_local_timeout_flag_bounds_the_wait(mock_context: Build) -> None:
    c = mock_context(healthy_stack())
    deploy.local(c, timeout="45")
    assert commands(c)[-1].endswith("--wait --wait-timeout 45 --remove-orphans")


def test_deploy_local_dry_run_validates_but_starts_nothing(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = mock_context(healthy_stack())
    deploy.local(c, dry_run=True)
    assert not any(" up " in cmd for cmd in commands(c))
    assert f"[dry-run] {COMPOSE} up --detach --wait" in capsys.readouterr().out
    # The project has no env file yet, and a dry run writes none: compose renders without.
    assert f"{COMPOSE.replace(str(UNIT_STATE / '.env'), '/dev/null')} config" in commands(c)[2]
    assert not UNIT_STATE.exists()


def test_invalid_prometheus_config_stops_before_anything_runs(mock_context: Build) -> None:
    failing_promtool = result(
        "Checking /etc/prometheus/prometheus.yml\n"
        '  FAILED: parsing YAML file /etc/prometheus/prometheus.yml: "15x" is not a valid duration',
        exited=1,
    )
    c = mock_context(
        healthy_stack(**{r"docker run --rm --network none .*promtool": failing_promtool})
    )
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    assert exc.value.code == 2
    assert "is invalid, nothing was deployed" in str(exc.value.message)
    assert '"15x" is not a valid duration' in str(exc.value.message)
    assert not any(" up " in cmd for cmd in commands(c))


def test_a_rule_file_that_does_not_parse_stops_before_any_command(
    mock_context: Build, tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    shutil.copytree(data_path("config/prometheus"), folder)
    rule_file = folder / "rules/sample-service.rules.yml"
    text = rule_file.read_text()
    rule_file.write_text(text.replace("expr: up == 0", "expr: up ==== 0"))
    line = text[: text.index("expr: up == 0")].count("\n") + 1
    c = mock_context(healthy_stack(), compose={"prometheus_config": str(folder / "prometheus.yml")})
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    assert exc.value.code == 2
    message = str(exc.value.message)
    assert "\n" not in message
    assert message.startswith(
        f"promkit: rule file {rule_file}:{line}: alert TargetDown's expr does not parse"
    )
    assert commands(c) == []


def test_invalid_compose_file_stops_with_composes_reason(mock_context: Build) -> None:
    bad = result(exited=15, stderr="services.prometheus Additional property imag is not allowed")
    c = mock_context(healthy_stack(**{rf"{COMPOSE} config": bad}))
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    assert exc.value.code == 2
    assert "Additional property imag is not allowed" in str(exc.value.message)
    assert commands(c)[-1] == f"{COMPOSE} config --format json"


def test_unhealthy_service_is_named_with_its_log_tail(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    worker = '"Service": "worker", "Name": "promkit-worker-1", "State": "running", "Health": '
    ps = PS_HEALTHY.replace(worker + '"healthy"', worker + '"unhealthy"')
    c = mock_context(
        healthy_stack(
            **{
                rf"{COMPOSE} up ": result(
                    exited=1, stderr="container promkit-worker-1 is unhealthy"
                ),
                rf"{COMPOSE} ps --format json --all": result(ps),
                rf"{COMPOSE} logs --no-color --tail 30 worker": result("worker | boom: no broker"),
            }
        )
    )
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    assert exc.value.code == 2
    assert "not healthy within 180s: worker (running unhealthy)" in str(exc.value.message)
    assert "boom: no broker" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("volumes", "expected"),
    [
        (False, f"{COMPOSE} down --remove-orphans"),
        (True, f"{COMPOSE} down --remove-orphans --volumes"),
    ],
)
def test_destroy_local_keeps_the_volume_unless_asked(
    mock_context: Build, volumes: bool, expected: str
) -> None:
    c = mock_context(healthy_stack())
    destroy.local(c, volumes=volumes)
    assert commands(c)[-1] == expected
    assert sum(" down" in cmd for cmd in commands(c)) == 1


def test_destroy_local_dry_run_runs_nothing(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = mock_context(healthy_stack())
    destroy.local(c, volumes=True, dry_run=True)
    assert not any(" down" in cmd for cmd in commands(c))
    assert f"[dry-run] {COMPOSE} down --remove-orphans --volumes" in capsys.readouterr().out


def test_status_local_lists_services_and_exits_1_when_unhealthy(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    status.local(mock_context(healthy_stack()))
    assert "prometheus" in capsys.readouterr().out
    unhealthy = PS_HEALTHY.replace(
        '"State": "running", "Health": "healthy", "Ports": ""}',
        '"State": "exited", "Health": "", "Ports": ""}',
        1,
    )
    c = mock_context(healthy_stack(**{rf"{COMPOSE} ps": result(unhealthy)}))
    with pytest.raises(Exit) as exc:
        status.local(c)
    assert exc.value.code == 1


def test_missing_docker_is_one_clear_line(mock_context: Build) -> None:
    c = mock_context({r"docker ": result(exited=127, stderr="/bin/sh: 1: docker: not found")})
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    assert exc.value.code == 2
    assert (
        exc.value.message
        == "promkit: docker not found on PATH: install it (see README.md) and try again"
    )


def test_engine_not_running_is_one_clear_line_and_nothing_runs(mock_context: Build) -> None:
    down = result(
        exited=1,
        stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?",
    )
    c = mock_context(healthy_stack(**{r"docker info": down}))
    for task in (deploy.local, destroy.local, status.local):
        with pytest.raises(Exit) as exc:
            task(c)
        assert exc.value.code == 2
        assert "the Docker engine is not reachable (Cannot connect to the Docker daemon" in str(
            exc.value.message
        )
    assert not any(" up " in cmd or " down" in cmd for cmd in commands(c))


def test_missing_compose_plugin_says_how_to_install_it(mock_context: Build) -> None:
    missing = result(exited=1, stderr="docker: 'compose' is not a docker command.")
    c = mock_context(healthy_stack(**{r"docker compose version": missing}))
    with pytest.raises(Exit) as exc:
        deploy.local(c)
    assert "Docker Compose v2 is missing" in str(exc.value.message)
