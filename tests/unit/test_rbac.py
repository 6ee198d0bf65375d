"""verify.rbac: kubectl auth can-i answers for Prometheus' ServiceAccount, judged (MockContext)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit

from promkit.tasks import verify
from promkit.verify import checks
from tests.support.mockctx import commands, result

SUBJECT = "system:serviceaccount:monitoring:prometheus"
CAN_I = r"kubectl --context kind-promkit auth can-i "
Build = Callable[..., MockContext]


def cluster(**overrides: object) -> dict[str, object]:
    """A kubeconfig with kind-promkit; least-privilege answers unless overridden (regex first)."""
    responses: dict[str, object] = dict(overrides)
    responses.setdefault(r"kubectl config get-contexts -o name", result("kind-promkit\nother\n"))
    responses.setdefault(CAN_I + r"(list|watch) pods ", result("yes\n"))
    responses.setdefault(CAN_I, result("no\n", exited=1))
    return responses


def test_least_privilege_passes_and_asks_every_question(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = mock_context(cluster())
    verify.rbac(c, context="kind-promkit")
    asked = [cmd for cmd in commands(c) if " auth can-i " in cmd]
    assert asked[0] == (
        f"kubectl --context kind-promkit auth can-i list pods --all-namespaces --as={SUBJECT}"
    )
    assert len(asked) == len(checks.RBAC_PERMISSIONS)
    assert f"kubectl --context kind-promkit auth can-i '*' '*' --all-namespaces --as={SUBJECT}" in (
        asked
    )
    out = capsys.readouterr().out
    assert f"{SUBJECT} can list pods in all namespaces" in out
    assert f"{SUBJECT} cannot get secrets in all namespaces" in out
    assert "all 1 checks pass" in out


def test_reading_secrets_fails_naming_the_permission(
    mock_context: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    c = mock_context(cluster(**{CAN_I + r"get secrets ": result("yes\n")}))
    with pytest.raises(Exit) as caught:
        verify.rbac(c, context="kind-promkit")
    assert caught.value.code == 1
    assert (
        f"{SUBJECT} can get secrets in all namespaces: least privilege says no: remove it from "
        "the roles bound to it"
    ) in capsys.readouterr().out


def test_missing_watch_fails_saying_discovery_needs_it() -> None:
    answers = {p: p.wanted for p in checks.RBAC_PERMISSIONS}
    watch = next(p for p in checks.RBAC_PERMISSIONS if p.verb == "watch")
    answers[watch] = False
    outcome = checks.check_rbac(SUBJECT, answers)
    assert not outcome.ok
    assert outcome.evidence[0] == (
        f"{SUBJECT} cannot watch pods in all namespaces: pod discovery needs it (grant it in "
        "its ClusterRole)"
    )


def test_impersonation_refused_is_one_clear_line(mock_context: Build) -> None:
    forbidden = result(
        exited=1,
        stderr='Error from server (Forbidden): users "dev" is forbidden: User "dev" cannot '
        'impersonate resource "serviceaccounts" in API group ""',
    )
    c = mock_context(cluster(**{CAN_I: forbidden}))
    with pytest.raises(Exit) as caught:
        verify.rbac(c, context="kind-promkit")
    assert caught.value.code == 2
    assert str(caught.value.message).startswith(
        f"promkit: `kubectl auth can-i list pods` for {SUBJECT} gave no yes/no (exit 1): "
        "Error from server (Forbidden)"
    )


def test_unknown_context_is_refused_before_any_question(mock_context: Build) -> None:
    c = mock_context(cluster())
    with pytest.raises(Exit) as caught:
        verify.rbac(c, context="nope")
    assert caught.value.code == 2
    assert "Kubernetes context 'nope' is not in your kubeconfig" in str(caught.value.message)
    assert not any(" auth can-i " in cmd for cmd in commands(c))


def test_report_holds_the_verdict_and_every_answer(mock_context: Build, tmp_path: Path) -> None:
    c = mock_context(cluster(**{CAN_I + r"get secrets ": result("yes\n")}))
    with pytest.raises(Exit):
        verify.rbac(c, context="kind-promkit", report=str(tmp_path / "evidence"))
    page = (tmp_path / "evidence/index.html").read_text()
    assert 'id="check-rbac"' in page and '<span class="FAIL">' in page
    assert f"{SUBJECT} can get secrets in all namespaces: least privilege says no" in page
    answers = json.loads((tmp_path / "evidence/answers/auth-can-i.json").read_text())
    assert answers["get secrets"] is True and answers["list pods"] is True
    assert answers["* *"] is False and 'href="answers/auth-can-i.json"' in page


def test_unwritable_report_is_exit_2_before_kubectl_runs(
    mock_context: Build, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    c = mock_context(cluster())
    with pytest.raises(Exit) as caught:
        verify.rbac(c, context="kind-promkit", report=str(tmp_path / "file/evidence"))
    assert caught.value.code == 2 and "cannot write the report to" in str(caught.value.message)
    assert commands(c) == []
