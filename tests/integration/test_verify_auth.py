"""Prometheus behind basic auth (--web.config.file with a bcrypt hash made by `bcrypt`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bcrypt
import pytest

pytestmark = pytest.mark.integration

USER, PASSWORD = "promkit", "correct horse battery staple"


@pytest.fixture(scope="module")
def protected(module_processes: Any, prometheus_bin: str, it: Any) -> Any:
    # Low cost: the hash only guards a test server, and latency budgets stay meaningful.
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    return module_processes.prometheus(
        prometheus_bin,
        it.config(),
        flags=["--storage.tsdb.retention.time=30d"],
        web_config={"basic_auth_users": {USER: hashed}},
        auth=(USER, PASSWORD),
    )


def test_auth_required_and_not_given(protected: Any, it: Any) -> None:
    result = it.inv("verify.health", "--url", protected.url)
    out = it.output(result)
    assert result.returncode == 2, out
    assert f"Prometheus at {protected.url} answered 401 Unauthorized: credentials are needed" in out
    assert "$PROMKIT_PROMETHEUS_USERNAME and $PROMKIT_PROMETHEUS_PASSWORD" in out
    assert "Traceback" not in out


def test_auth_given_in_the_environment(protected: Any, it: Any) -> None:
    env = it.env(PROMKIT_PROMETHEUS_USERNAME=USER, PROMKIT_PROMETHEUS_PASSWORD=PASSWORD)
    result = it.inv("--echo", "verify.health", "--url", protected.url, env=env)
    out = it.output(result)
    assert result.returncode == 0, out
    assert PASSWORD not in out


def test_auth_given_in_a_file(protected: Any, it: Any, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    settings = tmp_path / "auth.yaml"
    settings.write_text(f"prometheus:\n  password_file: {secret}\n")
    env = it.env(PROMKIT_PROMETHEUS_USERNAME=USER)
    result = it.inv("-f", str(settings), "verify.retention", "--url", protected.url, env=env)
    out = it.output(result)
    assert result.returncode == 0, out
    assert PASSWORD not in out


def test_auth_rejected(protected: Any, it: Any) -> None:
    env = it.env(PROMKIT_PROMETHEUS_USERNAME=USER, PROMKIT_PROMETHEUS_PASSWORD="wrong-secret")
    result = it.inv("verify.retention", "--url", protected.url, env=env)
    out = it.output(result)
    assert result.returncode == 2, out
    assert (
        "answered 401 Unauthorized: the credentials ($PROMKIT_PROMETHEUS_USERNAME with "
        "$PROMKIT_PROMETHEUS_PASSWORD) were rejected"
    ) in out
    assert "wrong-secret" not in out
