"""Shared fixtures for unit tests (helpers live in tests/support/mockctx.py)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from promkit.core.settings import DEFAULTS
from promkit.local import images
from tests.support.mockctx import UNIT_STATE, UNIT_STATE_DIR


@pytest.fixture
def prometheus_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-in prometheus and promtool files, named by PROMKIT_PROMETHEUS3_BIN (and
    alertmanager and amtool beside them, named by PROMKIT_ALERTMANAGER_BIN)."""
    folder = tmp_path / "prometheus-bin"
    folder.mkdir()
    for name in ("prometheus", "promtool", "alertmanager", "amtool"):
        (folder / name).write_text("#!/bin/sh\n")
    monkeypatch.setenv("PROMKIT_PROMETHEUS3_BIN", str(folder / "prometheus"))
    monkeypatch.setenv(images.ALERTMANAGER.env, str(folder / "alertmanager"))
    return folder


@pytest.fixture(autouse=True)
def _no_machine_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Unit tests never see (or write) a state folder of the current one, nor a prebuilt
    Prometheus (CI's): compose.state_dir is a scratch folder, empty at the start."""
    shutil.rmtree(UNIT_STATE_DIR, ignore_errors=True)
    monkeypatch.setitem(DEFAULTS["compose"], "state_dir", str(UNIT_STATE_DIR))
    monkeypatch.delenv(images.PROMETHEUS_BIN_ENV, raising=False)
    monkeypatch.delenv(images.ALERTMANAGER.env, raising=False)
    yield
    shutil.rmtree(UNIT_STATE_DIR, ignore_errors=True)


@pytest.fixture
def compose_env() -> Path:
    """The default project's env file, in the scratch compose.state_dir (its folder made,
    the file not)."""
    UNIT_STATE.mkdir(parents=True, exist_ok=True)
    return UNIT_STATE / ".env"


@pytest.fixture
def debootstrap_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-in debootstrap and promtool first on PATH (MockContext answers their
    commands), so a test of the offline build does not depend on the machine having them."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("debootstrap", "promtool"):
        (folder / name).write_text("#!/bin/sh\nexit 1\n")
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return folder


@pytest.fixture
def no_debootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH holding no debootstrap (an empty folder only)."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


#: The base system's program folders: a unit test's PATH holds these and the venv only.
BASE_SYSTEM_BIN = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
#: Programs that provisioning brings (.ci/run's packages and builds, the machine's kubectl):
#: a unit test that needs one of them is an integration test.
PROVISIONED = re.compile(
    r"(kubectl|promtool|prometheus|docker.*|containerd.*|ctr|runc|debootstrap|redis-.*|"
    r"go|gofmt|npm|npx|node|nodejs|pnpm|chromium.*|chromedriver|kube.*|etcd.*|kwok.*|"
    r"crictl|coredns)"
)


@pytest.fixture(scope="session")
def base_system_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH of the venv's programs and the base system's, without any PROVISIONED one."""
    folder = tmp_path_factory.mktemp("base-system-bin")
    for directory in map(Path, BASE_SYSTEM_BIN):
        for program in sorted(directory.iterdir()) if directory.is_dir() else []:
            link = folder / program.name
            if not PROVISIONED.fullmatch(program.name) and not link.exists():
                link.symlink_to(program)
    venv = Path(sys.executable).parent
    return os.pathsep.join([str(venv), str(folder)])


@pytest.fixture(autouse=True)
def _nothing_provisioned(
    base_system_path: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unit tests run as on a machine nothing was provisioned on: no kubectl, promtool,
    Docker or Prometheus on PATH, an empty cache folder (PROMKIT_CACHE, images.cache_dir)."""
    monkeypatch.setenv("PATH", base_system_path)
    cache = tmp_path_factory.mktemp("empty-cache")
    monkeypatch.setenv("PROMKIT_CACHE", str(cache))
    monkeypatch.setitem(DEFAULTS["images"], "cache_dir", str(cache))
