"""Optional basic auth in front of the local Prometheus (``--web.config.file``).

``inv auth.local`` hashes the operator's password, read from the environment, with
bcrypt and writes, in the compose project's state folder (never in the package), under
``<compose.state_dir>/<project>/auth/``:

- ``web/web.yml``: ``basic_auth_users`` with the operator's user and ``prometheus-self``
  (Prometheus scraping its own metrics must authenticate too);
- ``web/self-scrape.password``: that internal user's random password.

When ``compose.auth`` is true, deploy.local and reload.local mount ``prometheus/``, a
copy of the configured Prometheus folder whose self-scrape jobs send those credentials.
The operator's password itself is never written anywhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from promkit.core.errors import ConfigError
from promkit.core.settings import PrometheusSettings
from promkit.verify.client import Credentials

#: The user Prometheus scrapes itself as.
SELF_SCRAPE_USER = "prometheus-self"
#: Where compose.auth.yaml mounts the web folder inside the container.
WEB_MOUNT = "/etc/prometheus-web"
PASSWORD_FILE = "self-scrape.password"
WEB_CONFIG = "web.yml"
#: The variable compose.auth.yaml takes the container's group from.
GID_VAR = "PROMKIT_PROMETHEUS_GID"
#: nobody/nogroup: the Prometheus container's user and, when promkit may set it, group.
NOBODY = 65534
DEFAULT_USER = "promkit"
#: bcrypt's default cost; Prometheus caches a verified password, so only the first
#: request after a start pays it.
BCRYPT_ROUNDS = 12
#: Scrape targets that are Prometheus itself, seen from inside its container.
SELF_TARGETS = frozenset({"localhost:9090", "127.0.0.1:9090"})
_AUTH_KEYS = ("basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file")
_HEADER = (
    "# Written by promkit from {source}: do not edit here; edit that file and run\n"
    "# `inv reload.local`. Jobs scraping Prometheus itself authenticate as {user}.\n"
)


@dataclass(frozen=True)
class AuthPaths:
    """The files of one compose project's basic auth (<compose.state_dir>/<project>/auth/)."""

    root: Path

    @property
    def web(self) -> Path:
        return self.root / "web"

    @property
    def web_config(self) -> Path:
        return self.web / WEB_CONFIG

    @property
    def self_password(self) -> Path:
        return self.web / PASSWORD_FILE

    @property
    def config_dir(self) -> Path:
        return self.root / "prometheus"


def password_from_environment(
    settings: PrometheusSettings, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(user, password) for auth.local: the password from its env var, the user defaulting."""
    environ = os.environ if environ is None else environ
    user_var, pass_var = settings.username_env, settings.password_env
    password = environ.get(pass_var, "")
    if not password:
        raise ConfigError(
            f"set ${pass_var} to the password Prometheus should require (and ${user_var}, "
            f"default {DEFAULT_USER}): it is read from the environment, never stored"
        )
    user = environ.get(user_var) or DEFAULT_USER
    if ":" in user or user == SELF_SCRAPE_USER or not user.isprintable():
        raise ConfigError(f"${user_var} {user!r} cannot be used: no ':' and not {SELF_SCRAPE_USER}")
    if len(password.encode()) > 72:
        raise ConfigError(f"${pass_var} is longer than 72 bytes, the most bcrypt can use")
    return user, password


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash of ``password`` as Prometheus' web config wants it."""
    import bcrypt  # lazily: only auth needs it

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def _share_with_prometheus(path: Path, mode: int) -> None:
    """``mode`` on ``path``, group nogroup when promkit may set it (else the user's group)."""
    os.chmod(path, mode)
    # Without the right to, compose.auth.yaml runs Prometheus with the folder's group.
    with contextlib.suppress(PermissionError):
        os.chown(path, -1, NOBODY)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by its owner and group only."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        _share_with_prometheus(Path(temporary), 0o640)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _self_scrape_secret(paths: AuthPaths) -> str:
    """The internal user's password: kept if already there, else a new random one."""
    if paths.self_password.is_file():
        kept = paths.self_password.read_text(encoding="utf-8").strip()
        if len(kept) >= 32:
            return kept
    return secrets.token_urlsafe(32)


def write_web_config(
    paths: AuthPaths, user: str, password: str, *, rounds: int = BCRYPT_ROUNDS
) -> Path:
    """Write web.yml (bcrypt hashes only) and the self-scrape password; return web.yml."""
    paths.web.mkdir(parents=True, exist_ok=True)
    _share_with_prometheus(paths.web, 0o750)
    secret = _self_scrape_secret(paths)
    users = {user: hash_password(password, rounds), SELF_SCRAPE_USER: hash_password(secret, rounds)}
    _write_private(paths.self_password, secret + "\n")
    head = "# Written by `inv auth.local`: bcrypt hashes only; never commit this folder.\n"
    _write_private(paths.web_config, head + yaml.safe_dump({"basic_auth_users": users}))
    return paths.web_config


def require_web_config(paths: AuthPaths) -> None:
    """A ConfigError saying to run auth.local unless its files are there."""
    for path in (paths.web_config, paths.self_password):
        if not path.is_file():
            raise ConfigError(
                f"basic auth is on (compose.auth) but {path} does not exist: run "
                "`inv auth.local` first, with $PROMKIT_PROMETHEUS_PASSWORD set"
            )


def stored_hashes(paths: AuthPaths) -> dict[str, str]:
    """User -> bcrypt hash, as web.yml holds them."""
    try:
        data = yaml.safe_load(paths.web_config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {paths.web_config}: {exc}: run `inv auth.local`") from None
    users = data.get("basic_auth_users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise ConfigError(f"{paths.web_config} has no basic_auth_users: run `inv auth.local`")
    return {str(user): str(hashed) for user, hashed in users.items()}


def require_matching_credentials(paths: AuthPaths, credentials: Credentials) -> None:
    """The credentials verify.* will send are the ones web.yml accepts; else one clear line."""
    import bcrypt

    if credentials.username is None:
        raise ConfigError(
            f"basic auth is on (compose.auth) but no credentials are set: {credentials.source}"
        )
    hashed = stored_hashes(paths).get(credentials.username)
    password = (credentials.password or "").encode()
    try:
        accepted = (
            hashed is not None and len(password) <= 72 and bcrypt.checkpw(password, hashed.encode())
        )
    except ValueError:  # not a bcrypt hash
        accepted = False
    if not accepted:
        raise ConfigError(
            f"the credentials ({credentials.source}) are not the ones {paths.web_config} "
            "accepts: run `inv auth.local` with them, or set the right ones"
        )


def compose_env(paths: AuthPaths) -> dict[str, str]:
    """What compose.auth.yaml interpolates: the group that may read the web folder."""
    return {GID_VAR: str(paths.web.stat().st_gid)}


# -- the Prometheus config with authenticated self-scrapes --------------------------


def _targets(job: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for static in job.get("static_configs") or []:
        if isinstance(static, Mapping):
            found.update(str(t) for t in static.get("targets") or [])
    return found


def with_self_scrape_auth(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``config`` with basic_auth on every job scraping Prometheus itself; and those jobs."""
    patched = dict(config)
    jobs, changed = [], []
    for job in config.get("scrape_configs") or []:
        if (
            isinstance(job, Mapping)
            and _targets(job) & SELF_TARGETS
            and not any(key in job for key in _AUTH_KEYS)
        ):
            job = {
                **job,
                "basic_auth": {
                    "username": SELF_SCRAPE_USER,
                    "password_file": f"{WEB_MOUNT}/{PASSWORD_FILE}",
                },
            }
            changed.append(str(job.get("job_name", "?")))
        jobs.append(job)
    if "scrape_configs" in config:
        patched["scrape_configs"] = jobs
    return patched, changed


def _remove_stale(source: Path, target: Path) -> None:
    for path in sorted(target.rglob("*"), reverse=True):
        if not (source / path.relative_to(target)).exists():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def render_config_dir(config_file: Path, paths: AuthPaths) -> list[str]:
    """Copy ``config_file``'s folder to the mounted one, self-scrapes authenticated.

    Files are updated inside the existing folder (never the folder replaced), since
    a running container has that folder mounted. Returns the jobs given credentials.
    """
    source, target = config_file.parent, paths.config_dir
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {config_file}: {exc}") from None
    if not isinstance(config, Mapping):
        raise ConfigError(f"{config_file} is not a Prometheus configuration (not a mapping)")
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o755)
    shutil.copytree(source, target, dirs_exist_ok=True)
    _remove_stale(source, target)
    patched, changed = with_self_scrape_auth(config)
    text = _HEADER.format(source=config_file, user=SELF_SCRAPE_USER)
    rendered = target / config_file.name
    rendered.write_text(text + yaml.safe_dump(patched, sort_keys=False), encoding="utf-8")
    os.chmod(rendered, 0o644)
    return changed
