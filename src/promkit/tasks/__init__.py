"""The Invoke namespace: one sub-collection per module, settings from promkit.core.settings."""

from __future__ import annotations

from invoke.collection import Collection

from promkit.core.runner import LargeReadsLocal
from promkit.core.settings import DEFAULTS


def namespace() -> Collection:
    """Build the root collection that tasks.py exposes to ``inv``."""
    from promkit.tasks import (
        auth,
        deploy,
        destroy,
        images,
        init,
        kubernetes,
        reload,
        rules,
        serve,
        status,
        traffic,
        verify,
    )

    ns = Collection()
    for module in (deploy, destroy, images, status, verify, reload, auth):
        ns.add_collection(module.ns)
    check = Collection("check", manifests=kubernetes.manifests)
    check.add_task(rules.rules, name="rules")
    check.add_task(rules.rule_tests, name="rule-tests")
    check.add_task(rules.alerts, name="alerts")
    ns.add_collection(check)
    ns.add_collection(Collection("k8s", kubernetes.port_forward))
    ns.add_task(traffic.traffic)
    ns.add_task(init.init)
    ns.add_task(serve.serve)
    ns.configure(DEFAULTS)
    ns.configure({"runners": {"local": LargeReadsLocal}})
    return ns


def check_settings_files() -> None:
    """Exit 2 with one line if invoke.yaml or the ``inv -f`` file is broken (before Invoke)."""
    from invoke.exceptions import Exit

    from promkit.core.errors import PromkitError
    from promkit.core.settings_files import check_settings_files as check

    try:
        check()
    except PromkitError as exc:
        raise Exit(f"promkit: {exc}", code=exc.exit_code) from None
