"""The e2e_k8s session: one throwaway cluster with a real node for all tests.

Nothing is built here: the binaries come from ``scripts/build-kube.sh`` (``.ci/run`` runs
it); when they are missing the tests fail with a line saying so, they are never skipped.
The cluster's teardown fails the session if the node left anything on the machine.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.support.kube.harness import (
    BUILD_SCRIPT,
    Cluster,
    HarnessError,
    KubeBinaries,
    NodeBinaries,
)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
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
        yield cluster
    finally:
        try:
            cluster.delete()
        finally:
            signal.signal(signal.SIGTERM, previous)
