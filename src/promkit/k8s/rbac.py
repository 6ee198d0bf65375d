"""What Prometheus' ServiceAccount may do, asked of the cluster (kubectl auth can-i)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from invoke.context import Context

from promkit.core import runner
from promkit.core.errors import PromkitError
from promkit.core.settings import load
from promkit.k8s import kubectl as kube
from promkit.verify import checks
from promkit.verify.result import CheckResult


@dataclass(frozen=True)
class RbacVerdict:
    """What verify.rbac found for one ServiceAccount in one context."""

    subject: str
    context: str
    result: CheckResult
    #: What ``kubectl auth can-i`` answered, by "VERB RESOURCE": the report's raw answer.
    answers: dict[str, bool]


def verify_rbac(c: Context, config: Any, context: str | None, namespace: str | None) -> RbacVerdict:
    """Ask ``kubectl auth can-i`` as Prometheus' ServiceAccount of ``namespace`` (default
    k8s.namespace) in ``context`` (default k8s.context), and judge the answers."""
    k8s = load(config).k8s
    checked = kube.require_context(c, context or k8s.context)
    subject = f"system:serviceaccount:{namespace or k8s.namespace}:prometheus"
    answers = rbac_answers(c, checked, subject, checks.RBAC_PERMISSIONS)
    can_i = {f"{p.verb} {p.resource}": allowed for p, allowed in answers.items()}
    return RbacVerdict(subject, checked, checks.check_rbac(subject, answers), can_i)


def rbac_answers(
    c: Context, context: str, subject: str, permissions: Sequence[checks.Permission]
) -> dict[checks.Permission, bool]:
    """What ``kubectl auth can-i --as SUBJECT`` answers for each permission (all namespaces)."""
    answers = {}
    for permission in permissions:
        done = kube.kubectl(
            c,
            context,
            "auth",
            "can-i",
            permission.verb,
            permission.resource,
            "--all-namespaces",
            f"--as={subject}",
            check=False,
        )
        word = (done.stdout.split() or [""])[0]
        if word not in ("yes", "no"):
            reason = runner.last_line(done.stderr) or runner.last_line(done.stdout) or "no answer"
            raise PromkitError(
                f"`kubectl auth can-i {permission.verb} {permission.resource}` for {subject} "
                f"gave no yes/no (exit {done.exit_code}): {reason}"
            )
        answers[permission] = word == "yes"
    return answers
