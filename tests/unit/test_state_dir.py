"""promkit's own state lives in <compose.state_dir>/<project>/, never in the package.

deploy.local, images.build and auth.local used to write compose/.env and compose/.auth/
beside the shipped compose.yaml: into a checkout's src/promkit/data, or site-packages.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke.context import MockContext
from test_local_tasks import MODEL, PS_HEALTHY

from promkit.core.settings import data_path
from promkit.local import compose, images
from promkit.local import stack as local_stack
from promkit.tasks import deploy, destroy
from promkit.tasks import images as images_tasks
from tests.support.mockctx import argv_of, commands, result

Build = Callable[..., MockContext]
PACKAGE_DATA = data_path("")


def listing(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) -> the sha256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def any_stack() -> dict[str, object]:
    """A healthy stack's answers, whatever the compose project's env file."""
    return {
        r"docker compose version --short": result("2.40.3"),
        r"docker info --format": result("20.10.24"),
        r"docker compose .* config --format json": result(MODEL),
        r"docker compose .* ps --format json --all": result(PS_HEALTHY),
        r"docker compose .* (up|down) ": result(),
        r"docker ": result("[{}]"),
    }


def env_files(c: MockContext) -> set[str]:
    """The --env-file of every docker compose command that ran (each must name one)."""
    found = set()
    for command in commands(c):
        if command.startswith("docker compose --file"):
            argv = argv_of(command)
            assert "--env-file" in argv, command
            found.add(argv[argv.index("--env-file") + 1])
    return found


@pytest.fixture
def in_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder is a scratch one, and compose.state_dir is the default again."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_state_folder_is_per_project_under_the_current_folder(
    mock_context: Build, in_scratch_folder: Path
) -> None:
    c = mock_context(any_stack(), compose={"state_dir": ".promkit", "project": "mine"})
    deploy.local(c)
    state = in_scratch_folder / ".promkit" / "mine"
    assert env_files(c) == {str(state / ".env")}
    assert (state / ".env").is_file(), "compose needs the file it is given"
    up = next(command for command in commands(c) if " up " in command)
    assert f"--project-name mine --env-file {state / '.env'} up --detach" in up


def test_compose_state_dir_moves_it_and_the_dry_run_shows_it(
    mock_context: Build, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "elsewhere"
    c = mock_context(any_stack(), compose={"state_dir": str(state_dir)})
    deploy.local(c, dry_run=True)
    destroy.local(c, volumes=True, dry_run=True)
    out = capsys.readouterr().out
    env_file = state_dir / "promkit" / ".env"
    assert re.search(rf"\[dry-run\] docker compose .* --env-file {env_file} up ", out), out
    assert re.search(rf"\[dry-run\] docker compose .* --env-file {env_file} down ", out), out
    assert not state_dir.exists(), "a dry run writes nothing"


def test_basic_auth_files_are_mounted_from_the_state_folder_by_absolute_path(
    mock_context: Build, in_scratch_folder: Path
) -> None:
    c = mock_context({}, compose={"auth": True, "state_dir": "s"})
    project = compose.Project.from_config(c.config)
    auth_dir = in_scratch_folder / "s" / "promkit" / "auth"
    assert project.env == {compose.AUTH_DIR_VAR: str(auth_dir)}
    assert local_stack.auth_paths(project).web_config == auth_dir / "web" / "web.yml"
    mount = f"${{{compose.AUTH_DIR_VAR}:?is set by inv deploy.local}}/web:/etc/prometheus-web:ro"
    assert mount in (PACKAGE_DATA / "compose" / compose.AUTH_FILE).read_text()


def test_build_auth_deploy_destroy_write_nothing_in_the_package(
    mock_context: Build,
    in_scratch_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    prometheus_binaries: Path,
) -> None:
    monkeypatch.setattr(images, "fill_wheelhouse", lambda c, dry_run=False: None)
    monkeypatch.setenv("PROMKIT_PROMETHEUS_PASSWORD", "s3cret-enough")
    before = listing(PACKAGE_DATA)
    c = mock_context(any_stack(), compose={"state_dir": ".promkit"})
    state = in_scratch_folder / ".promkit" / "promkit"

    images_tasks.build(c, offline=True)
    local_stack.write_basic_auth(c.config)
    deploy.local(c)
    written = listing(state)
    assert sorted(written) == [".env", "auth/web/self-scrape.password", "auth/web/web.yml"]
    assert "PROMKIT_APP_IMAGE=promkit/sample-app" in (state / ".env").read_text()

    destroy.local(c)
    assert listing(state) == written, "plain destroy keeps the state with the volume"
    destroy.local(c, volumes=True)
    assert not state.exists() and (in_scratch_folder / ".promkit").is_dir()
    assert env_files(c) == {str(state / ".env")}
    assert listing(PACKAGE_DATA) == before
