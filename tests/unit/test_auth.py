"""Basic auth for the local stack: the password from the environment, web.yml, the config copy."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import bcrypt
import pytest
import yaml

from promkit.core.errors import ConfigError
from promkit.core.settings import load
from promkit.local import auth
from promkit.verify.client import Credentials
from tests.support.mockctx import promkit_config

SETTINGS = load(promkit_config()).prometheus
CONFIG = {
    "global": {"scrape_interval": "15s"},
    "scrape_configs": [
        {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
        {"job_name": "fastapi-app", "static_configs": [{"targets": ["app:8000"]}]},
        {
            "job_name": "already",
            "static_configs": [{"targets": ["127.0.0.1:9090"]}],
            "authorization": {"credentials_file": "/x"},
        },
    ],
}


def test_password_comes_from_the_environment_and_the_user_defaults_to_promkit() -> None:
    env = {"PROMKIT_PROMETHEUS_PASSWORD": "pw"}
    assert auth.password_from_environment(SETTINGS, env) == ("promkit", "pw")
    env["PROMKIT_PROMETHEUS_USERNAME"] = "ops"
    assert auth.password_from_environment(SETTINGS, env) == ("ops", "pw")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set $PROMKIT_PROMETHEUS_PASSWORD to the password Prometheus should require"),
        (
            {"PROMKIT_PROMETHEUS_PASSWORD": "x", "PROMKIT_PROMETHEUS_USERNAME": "a:b"},
            "$PROMKIT_PROMETHEUS_USERNAME 'a:b' cannot be used",
        ),
        (
            {"PROMKIT_PROMETHEUS_PASSWORD": "x", "PROMKIT_PROMETHEUS_USERNAME": "prometheus-self"},
            "cannot be used",
        ),
        ({"PROMKIT_PROMETHEUS_PASSWORD": "x" * 73}, "longer than 72 bytes"),
    ],
)
def test_unusable_credentials_are_one_clear_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        auth.password_from_environment(SETTINGS, env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_web_config_holds_hashes_only_readable_by_owner_and_group(tmp_path: Path) -> None:
    paths = auth.AuthPaths(tmp_path / "p")
    written = auth.write_web_config(paths, "promkit", "correct horse", rounds=4)
    text = written.read_text()
    assert "correct horse" not in text
    users = yaml.safe_load(text)["basic_auth_users"]
    assert set(users) == {"promkit", auth.SELF_SCRAPE_USER}
    assert bcrypt.checkpw(b"correct horse", users["promkit"].encode())
    secret = paths.self_password.read_text().strip()
    assert len(secret) >= 32
    assert bcrypt.checkpw(secret.encode(), users[auth.SELF_SCRAPE_USER].encode())
    for path in (paths.web_config, paths.self_password):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(paths.web.stat().st_mode) == 0o750
    if os.geteuid() == 0:
        assert paths.web_config.stat().st_gid == auth.NOBODY
    assert auth.compose_env(paths) == {auth.GID_VAR: str(paths.web.stat().st_gid)}
    assert not list(paths.web.glob(".*")), "no temporary files are left behind"


def test_rewriting_keeps_the_self_scrape_password(tmp_path: Path) -> None:
    paths = auth.AuthPaths(tmp_path)
    auth.write_web_config(paths, "promkit", "one", rounds=4)
    first = paths.self_password.read_text()
    auth.write_web_config(paths, "promkit", "two", rounds=4)
    assert paths.self_password.read_text() == first
    assert bcrypt.checkpw(b"two", auth.stored_hashes(paths)["promkit"].encode())


def test_credentials_must_match_web_config(tmp_path: Path) -> None:
    paths = auth.AuthPaths(tmp_path)
    with pytest.raises(ConfigError, match=r"run `inv auth\.local` first"):
        auth.require_web_config(paths)
    auth.write_web_config(paths, "promkit", "right", rounds=4)
    auth.require_web_config(paths)
    auth.require_matching_credentials(paths, Credentials("promkit", "right", source="$U"))
    for wrong in (Credentials("promkit", "wrong", source="$U"), Credentials("x", "right")):
        with pytest.raises(ConfigError, match=r"are not the ones .*web\.yml accepts"):
            auth.require_matching_credentials(paths, wrong)
    with pytest.raises(ConfigError, match="no credentials are set: set"):
        auth.require_matching_credentials(paths, Credentials(source="set $U and $P"))


def test_self_scrape_jobs_get_credentials_others_do_not() -> None:
    patched, changed = auth.with_self_scrape_auth(CONFIG)
    assert changed == ["prometheus"]
    jobs = {job["job_name"]: job for job in patched["scrape_configs"]}
    assert jobs["prometheus"]["basic_auth"] == {
        "username": auth.SELF_SCRAPE_USER,
        "password_file": "/etc/prometheus-web/self-scrape.password",
    }
    assert "basic_auth" not in jobs["fastapi-app"]
    assert "basic_auth" not in jobs["already"]
    assert "basic_auth" not in CONFIG["scrape_configs"][0]  # type: ignore[index]


def test_rendered_config_folder_is_updated_in_place(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "rules").mkdir(parents=True)
    (source / "prometheus.yml").write_text(yaml.safe_dump(CONFIG))
    (source / "rules" / "a.yml").write_text("groups: []\n")
    paths = auth.AuthPaths(tmp_path / "auth")
    assert auth.render_config_dir(source / "prometheus.yml", paths) == ["prometheus"]
    target = paths.config_dir
    inode = target.stat().st_ino
    rendered = yaml.safe_load((target / "prometheus.yml").read_text())
    assert rendered["scrape_configs"][0]["basic_auth"]["username"] == auth.SELF_SCRAPE_USER
    assert (target / "rules" / "a.yml").read_text() == "groups: []\n"
    (source / "rules" / "a.yml").unlink()
    auth.render_config_dir(source / "prometheus.yml", paths)
    assert not (target / "rules" / "a.yml").exists()
    assert target.stat().st_ino == inode, "a mounted folder must not be replaced"


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    (tmp_path / "prometheus.yml").write_text("- a\n")
    with pytest.raises(ConfigError, match="is not a Prometheus configuration"):
        auth.render_config_dir(tmp_path / "prometheus.yml", auth.AuthPaths(tmp_path / "a"))
