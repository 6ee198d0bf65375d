"""verify.drift on the real compose stack: green after a deploy, and each way the server
comes to run something else than the repo's files says.

The module deploys its own stack (project promkit-drift, ports 19390/18300) from a
temporary copy of config/prometheus (setting compose.prometheus_config): that copy is
the repo side, and the folder the stack mounts. Editing it without a reload leaves
the server on the old files; a reload then restoring the file leaves the server on
files the repo no longer holds. Tests run in file order; each puts the files back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from promkit.core.settings import ROOT
from tests.support import Completed, request, run
from tests.support.stack import Stack, copy_of_config, deployed_from

pytestmark = pytest.mark.e2e

STACK = Stack("promkit-drift", prometheus_port=19390, app_port=18300)
COMPOSE = ROOT / "src/promkit/data/compose/compose.yaml"
#: The Alertmanager config the stack runs (setting alerts.config), compared too.
ALERTMANAGER_CONFIG = ROOT / "src/promkit/data/config/alertmanager/alertmanager.yml"
RULES = "rules/sample-service.rules.yml"


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of config/prometheus that the stack mounts (and the tests edit)."""
    return copy_of_config(tmp_path_factory, "drift")


@pytest.fixture(scope="module", autouse=True)
def deployed(config_dir: Path) -> Iterator[None]:
    with deployed_from(STACK, config_dir):
        yield


@pytest.fixture
def files(config_dir: Path) -> Iterator[Path]:
    """The mounted folder; whatever a test changes is put back, reloaded and green after."""
    originals = {path: path.read_text() for path in config_dir.rglob("*.yml")}
    yield config_dir
    for path, text in originals.items():
        path.write_text(text)
    STACK.inv("reload.local")
    assert drift().returncode == 0


def drift() -> Completed:
    done = STACK.inv("verify.drift", check=False)
    assert "Traceback" not in done.stderr, done.output
    return done


def test_right_after_the_deploy_the_server_matches_the_repo_files(config_dir: Path) -> None:
    done = drift()
    assert done.returncode == 0, done.output
    assert done.stdout.splitlines() == [
        f"server matches {config_dir / 'prometheus.yml'}, {config_dir / RULES}, "
        f"{COMPOSE.relative_to(ROOT)}, {ALERTMANAGER_CONFIG.relative_to(ROOT)}"
    ]


def test_a_rule_file_edited_but_not_reloaded_is_named_until_the_reload(files: Path) -> None:
    rules = files / RULES
    edited = rules.read_text().replace("expr: up == 0", "expr: up == 0 and on() vector(1)")
    rules.write_text(edited.replace("severity: critical", "severity: page"))
    done = drift()
    assert done.returncode == 1, done.output
    where = "groups[sample-service.alerts].alert[TargetDown]"
    assert done.stdout.splitlines() == [
        f"{where}.expr: repo up == 0 and on() vector(1), server up == 0",
        f"{where}.labels.severity: repo page, server critical",
    ]
    STACK.inv("reload.local")
    assert drift().returncode == 0


def test_a_reloaded_config_the_repo_no_longer_holds_is_named(files: Path) -> None:
    path = files / "prometheus.yml"
    original = path.read_text()
    config = yaml.safe_load(original)
    config["scrape_configs"][1]["scrape_timeout"] = "5s"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    STACK.inv("reload.local")
    path.write_text(original)
    done = drift()
    assert done.returncode == 1, done.output
    assert done.stdout.splitlines() == [
        "scrape_configs[fastapi-app].scrape_timeout: repo 10s, server 5s"
    ]


def test_a_failed_reload_leaves_the_old_config_and_is_named(files: Path) -> None:
    loaded = STACK.api("/api/v1/status/runtimeinfo")["lastConfigTime"]
    path = files / "prometheus.yml"
    original = path.read_text()
    path.write_text(original + "\nscrape_configs: [ {job_name: \n")
    # Straight to the server: reload.local would refuse the file before it is sent.
    status, said = request("POST", STACK.prometheus + "/-/reload", timeout=30)
    assert status == 500, said
    path.write_text(original)
    done = drift()
    assert done.returncode == 1, done.output
    assert done.stdout.splitlines() == [
        "the last reload failed: the server runs an older config (its last successful load "
        f"was at {loaded})"
    ]


def test_a_server_started_with_another_retention_is_named(config_dir: Path, tmp_path: Path) -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    command = compose["services"]["prometheus"]["command"]
    changed = [arg.replace("retention.time=30d", "retention.time=15d") for arg in command]
    assert changed != command
    override = tmp_path / "compose.override.yaml"
    override.write_text(yaml.safe_dump({"services": {"prometheus": {"command": changed}}}))
    # Started outside promkit, the way a hand-edited deployment is: the repo still says 30d.
    argv = STACK.compose_argv("up", "--detach", "--wait", "--no-deps", "prometheus")
    argv[argv.index("--project-name") : argv.index("--project-name")] = ["--file", str(override)]
    env = {**STACK.env(), "PROMKIT_PROMETHEUS_CONFIG_DIR": str(config_dir)}
    done = run(argv, env=env, timeout=300)
    assert done.returncode == 0, done.output
    found = drift()
    assert found.returncode == 1, found.output
    assert found.stdout.splitlines() == ["--storage.tsdb.retention.time: repo 30d, server 15d"]
    STACK.inv("deploy.local")
    assert drift().returncode == 0
