"""The Invoke namespace: one sub-collection per module, settings from promkit.settings."""

from __future__ import annotations

from invoke.collection import Collection

from promkit.settings import DEFAULTS


def namespace() -> Collection:
    """Build the root collection that tasks.py exposes to ``inv``."""
    from promkit.tasks import deploy, destroy, images, kubernetes, status, traffic, verify

    ns = Collection()
    for module in (deploy, destroy, images, status, verify):
        ns.add_collection(module.ns)
    ns.add_collection(Collection("check", manifests=kubernetes.manifests))
    ns.add_collection(Collection("k8s", kubernetes.port_forward))
    ns.add_task(traffic.traffic)
    ns.configure(DEFAULTS)
    return ns
