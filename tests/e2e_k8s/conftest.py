"""The e2e_k8s session: one throwaway kwok cluster for all tests, deleted even on failure.

Nothing is built here: the binaries come from ``scripts/build-kube.sh`` (``.ci/run`` runs
it); when they are missing the tests fail with a line saying so, they are never skipped.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from harness import HarnessError, KubeBinaries, KwokCluster


@pytest.fixture(scope="session")
def kube_binaries() -> KubeBinaries:
    """The control plane binaries; a clear failure when scripts/build-kube.sh has not run."""
    try:
        return KubeBinaries.locate()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def kwok_cluster(
    kube_binaries: KubeBinaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KwokCluster]:
    """A running cluster (context ``cluster.context``, KUBECONFIG ``cluster.env()``)."""
    # SIGTERM (a CI timeout) becomes KeyboardInterrupt, so the teardown below still runs.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    cluster = KwokCluster(kube_binaries, tmp_path_factory.mktemp("kwok"))
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.delete()
        signal.signal(signal.SIGTERM, previous)
