"""deploy.local refuses bad input before anything is created, and leaves nothing half-up.

Real Docker engine, a compose project and ports of its own; every case asserts one
line on stderr, the exit code, and that the project has no container, network or
volume afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from promkit.core.settings import ROOT
from tests.support import Completed, taken_port
from tests.support.stack import Stack, stdout_of

pytestmark = pytest.mark.e2e

STACK = Stack("promkit-bad-input", prometheus_port=19290, app_port=18200)


def leftovers() -> list[str]:
    """Containers, networks and volumes of the project (there must be none)."""
    label = f"label=com.docker.compose.project={STACK.project}"
    found = stdout_of("docker", "ps", "-a", "--filter", label, "--format", "container {{.Names}}")
    found += stdout_of(
        "docker", "network", "ls", "--filter", label, "--format", "network {{.Name}}"
    )
    found += stdout_of("docker", "volume", "ls", "--filter", label, "--format", "volume {{.Name}}")
    return found.split("\n")[:-1]


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    STACK.remove()
    yield
    STACK.remove()


def one_line_error(done: Completed) -> str:
    """The one line promkit printed for exit code 2 (asserting there is just that)."""
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("promkit: "), lines
    assert "Traceback" not in done.stdout
    return lines[0]


def test_a_taken_port_is_named_with_its_holder_and_nothing_is_created() -> None:
    with taken_port(STACK.prometheus_port):
        done = STACK.inv("deploy.local", check=False)
    line = one_line_error(done)
    me = psutil.Process(os.getpid()).name()
    assert f"port 127.0.0.1:{STACK.prometheus_port} of service prometheus is already in use" in line
    assert f"by {me} (pid {os.getpid()})" in line
    assert "PROMKIT_PROMETHEUS_PORT=<free port>" in line and "nothing was created" in line
    assert leftovers() == []


def test_an_image_that_cannot_be_pulled_is_one_line_and_nothing_starts() -> None:
    # Every image is one no registry has, so the outcome does not depend on what this
    # machine has built or on the project's env file (.promkit/<project>/.env).
    env = STACK.env(
        PROMKIT_PROMETHEUS_IMAGE="promkit-test/no-such-prometheus:0.0.0",
        PROMKIT_APP_IMAGE="promkit-test/no-such-app:0.0.0",
        PROMKIT_REDIS_IMAGE="promkit-test/no-such-redis:0.0.0",
        PROMKIT_ALERTMANAGER_IMAGE="promkit-test/no-such-alertmanager:0.0.0",
        INVOKE_IMAGES_OFFLINE="false",
    )
    done = STACK.inv("deploy.local", check=False, env=env)
    line = one_line_error(done)
    assert (
        "not present yet: promkit-test/no-such-app:0.0.0 (alert-sink, app, demo-traffic, worker)"
        in (done.stdout)
    )
    assert "cannot pull promkit-test/no-such-alertmanager:0.0.0" in line  # the first, sorted
    assert "images.offline: true" in line and "nothing was started" in line
    assert leftovers() == []


def test_an_out_of_range_demo_rate_is_one_line() -> None:
    done = STACK.inv("deploy.local", check=False, env=STACK.env(INVOKE_TRAFFIC_DEMO_RATE="50"))
    line = one_line_error(done)
    assert "setting 'traffic.demo_rate' must be from 0 (off) to 5" in line
    assert leftovers() == []


def test_a_rule_file_that_does_not_parse_is_one_line_with_its_line_and_nothing_starts(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "prometheus"
    shutil.copytree(ROOT / "config" / "prometheus", folder)
    rule_file = folder / "rules" / "sample-service.rules.yml"
    text = rule_file.read_text()
    rule_file.write_text(text.replace("expr: up == 0", "expr: up == 0)"))
    line = text.split("\n").index("        expr: up == 0") + 1
    env = STACK.env(INVOKE_COMPOSE_PROMETHEUS_CONFIG=str(folder / "prometheus.yml"))
    done = STACK.inv("deploy.local", check=False, env=env)
    error = one_line_error(done)
    assert error.startswith(
        f"promkit: rule file {rule_file}:{line}: alert TargetDown's expr does not parse"
    ), error
    assert "nothing was changed" in error
    assert leftovers() == []


def test_a_first_deploy_that_fails_part_way_removes_what_it_created() -> None:
    # Prometheus cannot be healthy within a second: `compose up --wait` fails part-way.
    done = STACK.inv("deploy.local", check=False, env=STACK.env(INVOKE_COMPOSE_WAIT_TIMEOUT="1"))
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "not healthy within 1s" in done.stderr
    assert "removed the containers and network it had created" in done.stderr
    assert "inv destroy.local --volumes" in done.stderr
    assert [item for item in leftovers() if not item.startswith("volume ")] == []
