"""The e2e_k8s session: one throwaway cluster with a real node for all tests.

Nothing is built here: the binaries come from ``scripts/build-kube.sh`` (``.ci/run`` runs
it); when they are missing the tests fail with a line saying so, they are never skipped.
The cluster's teardown fails the session if the node left anything of its own on the
machine; ``bystanders`` proves it took nothing of anyone else's.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sh

from tests.support.kube.harness import (
    BUILD_SCRIPT,
    Cluster,
    HarnessError,
    KubeBinaries,
    NodeBinaries,
)


class Bystanders:
    """A network namespace, a bridge, a bind mount and a Docker container that are not the
    cluster's, made while it runs: its teardown must leave all four alone."""

    def __init__(self, folder: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.netns, self.bridge = f"promkit-bystander-{tag}", f"bys{tag}"
        self.container = f"promkit-bystander-{tag}"
        self.source, self.mount = folder / "source", folder / "mount"
        self.made: list[str] = []

    def create(self, image: str) -> None:
        sh.ip("netns", "add", self.netns)
        self.made.append("netns")
        sh.ip("link", "add", "name", self.bridge, "type", "bridge")
        self.made.append("bridge")
        self.source.mkdir()
        self.mount.mkdir()
        (self.source / "marker").write_text("a bystander's\n")
        sh.mount("--bind", self.source, self.mount)
        self.made.append("mount")
        sh.docker("run", "--detach", "--name", self.container, "--network", "bridge", image)
        self.made.append("container")

    def missing(self) -> list[str]:
        """Which of the four is gone (or broken), one line each."""
        found = []
        if self.netns not in str(sh.ip("netns", "list")).split():
            found.append(f"network namespace {self.netns}")
        if not Path("/sys/class/net", self.bridge).exists():
            found.append(f"bridge {self.bridge}")
        if not (self.mount / "marker").exists():
            found.append(f"bind mount {self.mount}")
        state = sh.docker(
            "inspect", "--format", "{{.State.Running}}", self.container, _ok_code=[0, 1]
        )
        if str(state).strip() != "true":
            found.append(f"docker container {self.container} (running: {str(state).strip()!r})")
        return found

    def remove(self) -> None:
        if "container" in self.made:
            sh.docker("rm", "--force", self.container, _ok_code=[0, 1])
        if "mount" in self.made:
            sh.umount(self.mount, _ok_code=[0, 1, 32])
        if "bridge" in self.made:
            sh.ip("link", "delete", self.bridge, _ok_code=[0, 1])
        if "netns" in self.made:
            sh.ip("netns", "delete", self.netns, _ok_code=[0, 1])


@pytest.fixture(scope="session")
def bystanders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bystanders]:
    """Made by ``cluster`` once it runs; checked here after the cluster is gone."""
    made = Bystanders(tmp_path_factory.mktemp("bystanders"))
    try:
        yield made
        if made.made:
            assert made.made == ["netns", "bridge", "mount", "container"], made.made
            missing = made.missing()
            assert not missing, f"the cluster's teardown took what was not its own: {missing}"
    finally:
        made.remove()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, bystanders: Bystanders) -> Iterator[Cluster]:
    """A running cluster (context ``cluster.context``, KUBECONFIG ``cluster.env()``)."""
    try:
        binaries, node_binaries = KubeBinaries.locate(), NodeBinaries.locate(BUILD_SCRIPT)
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    # SIGTERM (a CI timeout) becomes KeyboardInterrupt, so the teardown below still runs.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    cluster = Cluster(binaries, node_binaries, tmp_path_factory.mktemp("cluster"))
    try:
        cluster.create()
        # The pause image: a container that only sleeps, already in Docker.
        bystanders.create(cluster.node.pause_image)
        yield cluster
    finally:
        try:
            cluster.delete()
        finally:
            signal.signal(signal.SIGTERM, previous)
